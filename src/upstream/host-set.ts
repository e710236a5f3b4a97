// The endpoints of one cluster plus the derived "which hosts may the load balancer use" view
// (Envoy `HostSet` with a single priority and no locality weighting).
//
// Load balancers poll `version` on every pick (one integer compare) and rebuild their
// schedulers / rings only when it moved, so membership changes and health flips (outlier
// ejection) cost a rebuild once, not per request.

import type { Host } from './host'

/** Where health decided by other worker processes comes from (SharedOutlierDetector). */
export interface HealthSource {
  /** Pull ejections and returns made elsewhere; calls healthChanged() only when something moved. */
  sync (): void
}

export class HostSet {
  /** Every host of the cluster, ejected or not. Replace with `update()`, never mutate. */
  hosts: readonly Host[]
  /**
   * Istio `outlierDetection.minHealthPercent` → Envoy `healthy_panic_threshold`. When the healthy
   * percentage drops below it, balance over all hosts (panic). 0 disables panic: with no healthy
   * host the balancer returns null (503 `UH`). Istio writes 0 whenever outlierDetection is
   * present and the field is unset; without outlierDetection Envoy's default (50) would apply,
   * but then no Ferry host can ever be unhealthy, so 0 is an exact stand-in.
   */
  readonly panicThresholdPercent: number
  /** Counter `lb_healthy_panic`: picks made while in panic. Load balancers increment it. */
  lbHealthyPanic: number
  /** Bumped on every membership or health change; load balancers compare it to rebuild lazily. */
  version: number
  /**
   * Null in a single process. With --concurrency > 1 and outlier detection, the load balancer
   * asks it before each pick, so an ejection by another worker takes effect at once.
   */
  healthSource: HealthSource | null
  /** The cluster's `membership_healthy` gauge, kept equal to the healthy count on every change. */
  healthyGauge: { set (value: number): void } | null

  private healthy: Host[]
  private members: Set<Host>
  private panic: boolean

  constructor (hosts: readonly Host[], panicThresholdPercent: number = 0) {
    if (!(panicThresholdPercent >= 0 && panicThresholdPercent <= 100)) {
      throw new RangeError(`panicThresholdPercent must be within [0, 100], got ${panicThresholdPercent}`)
    }
    this.hosts = hosts
    this.panicThresholdPercent = panicThresholdPercent
    this.lbHealthyPanic = 0
    this.version = 0
    this.healthSource = null
    this.healthyGauge = null
    this.healthy = []
    this.members = new Set(hosts)
    this.panic = false
    this.recompute()
  }

  /** Hosts not ejected by outlier detection. Cached; valid until the next `version` bump. */
  healthyHosts (): readonly Host[] {
    return this.healthy
  }

  /** True when the healthy percentage is below the panic threshold (Envoy `isHostSetInPanic`). */
  get inPanic (): boolean {
    return this.panic
  }

  /** The hosts a load balancer should pick from: the healthy ones, or all of them in panic. */
  hostsForLb (): readonly Host[] {
    return this.panic ? this.hosts : this.healthy
  }

  has (host: Host): boolean {
    return this.members.has(host)
  }

  /**
   * Replace the membership (registry / DNS update). Pass the same Host objects for endpoints
   * that stayed, so their outlier state and in-flight counts survive, as Envoy does.
   */
  update (hosts: readonly Host[]): void {
    this.hosts = hosts
    this.members = new Set(hosts)
    this.recompute()
  }

  /** Called by the outlier detector after it ejected or restored a host. */
  healthChanged (): void {
    this.recompute()
  }

  private recompute (): void {
    const healthy: Host[] = []
    for (const h of this.hosts) if (!h.ejected) healthy.push(h)
    this.healthy = healthy
    const total = this.hosts.length
    // Envoy: an empty host set counts as 0% healthy; it does not matter here because the
    // balancer has nothing to pick either way.
    const healthyPercent = total === 0 ? 0 : (100 * healthy.length) / total
    this.panic = healthyPercent < this.panicThresholdPercent
    this.version++
    this.healthyGauge?.set(healthy.length)
  }
}
