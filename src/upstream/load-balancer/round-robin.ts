// ROUND_ROBIN (Envoy `RoundRobinLoadBalancer`): a plain rotating index when all weights are
// equal, an EDF schedule over the static weights otherwise.

import type { Host } from '../host'
import type { HostSet } from '../host-set'
import { HostSetLoadBalancer } from './base'
import { weightedSchedule, type EdfScheduler } from './edf'
import type { Random } from './types'

export class RoundRobinLoadBalancer extends HostSetLoadBalancer {
  /** Survives rebuilds, like Envoy's per-source rr index. Starts at a random offset (Envoy's seed). */
  private rrIndex: number
  private edf: EdfScheduler | null

  constructor (hostSet: HostSet, random: Random) {
    super(hostSet, random)
    this.rrIndex = Math.floor(random() * 0x7fffffff)
    this.edf = null
  }

  protected rebuild (hosts: readonly Host[]): void {
    this.edf = weightedSchedule(hosts, staticWeight, this.random)
  }

  protected pick (_attempt: number): Host {
    const edf = this.edf
    if (edf !== null) {
      const host = edf.peek()
      edf.advance(host.weight)
      return host
    }
    return this.hosts[this.rrIndex++ % this.hosts.length]
  }
}

const staticWeight = (host: Host): number => host.weight
