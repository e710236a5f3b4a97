// LEAST_REQUEST, Istio's default (Envoy `LeastRequestLoadBalancer`, N_CHOICES selection).
// Equal weights: sample `choiceCount` hosts at random (with replacement) and keep the one with
// the fewest active requests, the "power of two choices". Unequal weights: EDF where a host's
// weight is divided by (active requests + 1), Envoy's default active_request_bias of 1.0.

import type { Host } from '../host'
import type { HostSet } from '../host-set'
import { HostSetLoadBalancer } from './base'
import { weightedSchedule, type EdfScheduler } from './edf'
import type { Random } from './types'

/** Envoy's default `choice_count`; Istio does not change it. */
export const LEAST_REQUEST_CHOICE_COUNT = 2

export class LeastRequestLoadBalancer extends HostSetLoadBalancer {
  private edf: EdfScheduler | null

  constructor (hostSet: HostSet, random: Random) {
    super(hostSet, random)
    this.edf = null
  }

  protected rebuild (hosts: readonly Host[]): void {
    this.edf = weightedSchedule(hosts, effectiveWeight, this.random)
  }

  protected pick (_attempt: number): Host {
    const edf = this.edf
    if (edf !== null) {
      // As in Envoy, the load is read when the host is put back into the schedule, so a burst
      // of picks between two completions sees slightly stale counts.
      const host = edf.peek()
      edf.advance(effectiveWeight(host))
      return host
    }
    const hosts = this.hosts
    const n = hosts.length
    let chosen = hosts[Math.floor(this.random() * n)]
    for (let i = 1; i < LEAST_REQUEST_CHOICE_COUNT; i++) {
      const sampled = hosts[Math.floor(this.random() * n)]
      // Strictly fewer: on a tie the first sample wins, as in Envoy.
      if (sampled.activeRequests < chosen.activeRequests) chosen = sampled
    }
    return chosen
  }
}

function effectiveWeight (host: Host): number {
  return host.weight / (host.activeRequests + 1)
}
