// The part every host-set based policy shares: lazy rebuild when the host set changed, panic
// accounting, and the retry host predicate.

import type { Host } from '../host'
import type { HostSet } from '../host-set'
import type { LbContext, LoadBalancer, Random } from './types'

/**
 * How many extra picks a retry makes to avoid hosts tried before. Istio sets Envoy's
 * `host_selection_retry_max_attempts` to 5 on every route with retries; after that the last pick
 * is used even if it was tried already (a tried host beats no host).
 */
export const HOST_SELECTION_RETRY_MAX_ATTEMPTS = 5

export abstract class HostSetLoadBalancer implements LoadBalancer {
  protected readonly hostSet: HostSet
  protected readonly random: Random
  /** The hosts the current schedule was built from (healthy, or all in panic). */
  protected hosts: readonly Host[]
  private builtVersion: number

  constructor (hostSet: HostSet, random: Random) {
    this.hostSet = hostSet
    this.random = random
    this.hosts = []
    // -1 never equals a HostSet version, so the first pick builds.
    this.builtVersion = -1
  }

  chooseHost (ctx: LbContext): Host | null {
    const hostSet = this.hostSet
    const source = hostSet.healthSource
    if (source !== null) source.sync()
    if (hostSet.version !== this.builtVersion) {
      this.hosts = hostSet.hostsForLb()
      this.builtVersion = hostSet.version
      this.rebuild(this.hosts)
    }
    const n = this.hosts.length
    if (n === 0) return null
    // Envoy counts once per chooseHostOnce (so once per retry-predicate re-pick too); Ferry
    // counts once per decision, which is what the stat is read for.
    if (hostSet.inPanic) hostSet.lbHealthyPanic++
    if (n === 1) return this.hosts[0]
    this.beginPick(ctx)
    let host = this.pick(0)
    const attempted = ctx.attempted
    if (attempted === null || attempted.size === 0) return host
    for (let attempt = 1; attempt <= HOST_SELECTION_RETRY_MAX_ATTEMPTS && attempted.has(host); attempt++) {
      host = this.pick(attempt)
    }
    return host
  }

  /** Build per-policy state for `hosts` (non-empty or empty); called only when the set changed. */
  protected abstract rebuild (hosts: readonly Host[]): void

  /** Per-request preparation, once before the picks of one decision (consistent hash: hash the key). */
  protected beginPick (_ctx: LbContext): void {}

  /** One pick from `this.hosts` (at least two hosts). `attempt` is 0 first, then 1.. for re-picks. */
  protected abstract pick (attempt: number): Host
}
