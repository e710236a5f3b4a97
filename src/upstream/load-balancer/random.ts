// RANDOM (Envoy `RandomLoadBalancer`): a uniform pick. Envoy ignores endpoint weights here, and
// so does Ferry, so that a weighted ServiceEntry behaves the same behind either proxy.

import type { Host } from '../host'
import { HostSetLoadBalancer } from './base'

export class RandomLoadBalancer extends HostSetLoadBalancer {
  protected rebuild (_hosts: readonly Host[]): void {}

  protected pick (_attempt: number): Host {
    return this.hosts[Math.floor(this.random() * this.hosts.length)]
  }
}
