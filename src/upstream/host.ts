// One upstream endpoint of a cluster (Envoy's `Host`). Load balancers, the outlier detector
// and the connection pool all read and write the same object, so its shape is fixed here and
// every field is assigned in the constructor (stable hidden class on the hot path).
//
// A Host belongs to exactly one cluster (one HostSet). Istio builds one Envoy cluster per
// port and subset, each with its own endpoints and its own outlier detector; Ferry's model
// must do the same and never share a Host object between clusters, because the outlier
// state below is per cluster in Envoy.

export class Host {
  /** `address:port`, the form Envoy prints in /clusters and access logs; also the consistent-hash key. */
  readonly key: string
  /** Requests in flight to this host; least-request balancing reads it. */
  activeRequests: number
  /** Set by the outlier detector while the host is ejected. */
  ejected: boolean
  /** How many times the host has been ejected, ever (Envoy `num_ejections`, shown by /clusters). */
  ejectionCount: number
  /** Monotonic time (ms) at which the current ejection ends; 0 when not ejected. */
  ejectedUntil: number

  // Outlier detection state (Envoy `DetectorHostMonitorImpl`). Kept on the host rather than in a
  // Map inside the detector so that reporting a response costs no lookup.
  /** Consecutive 5xx responses (and, unless split, local-origin failures). */
  consecutive5xx: number
  /** Consecutive 502/503/504 responses (and, unless split, local-origin failures). */
  consecutiveGatewayFailure: number
  /** Consecutive local-origin failures; only counted with splitExternalLocalOriginErrors. */
  consecutiveLocalOriginFailure: number
  /**
   * Ejection time multiplier (Envoy `ejectTimeBackoff`): grows by one per ejection, shrinks by one
   * per interval the host stays healthy. It is not `ejectionCount`: Envoy forgives old ejections.
   */
  ejectTimeBackoff: number
  /** Monotonic time (ms) of the last ejection, -1 when never ejected. */
  lastEjectionTime: number
  /** Monotonic time (ms) of the last un-ejection, -1 when never un-ejected. */
  lastUnejectionTime: number
  /**
   * With --concurrency > 1: Int32 index of this host's record in shared memory, where the
   * outlier state above really lives (SharedOutlierDetector mirrors it into these fields); -1
   * in a single process.
   */
  sharedEntry: number

  readonly address: string
  readonly port: number
  readonly labels: Readonly<Record<string, string>>
  /** Load-balancing weight (ServiceEntry endpoint / WorkloadEntry `weight`), default 1. */
  readonly weight: number
  /** Locality string `region/zone/subzone`, empty when unknown. */
  readonly locality: string

  constructor (
    address: string,
    port: number,
    labels: Readonly<Record<string, string>> = {},
    weight: number = 1,
    locality: string = ''
  ) {
    // Envoy rejects load_balancing_weight < 1; Istio turns an unset/0 endpoint weight into 1
    // before it gets here, so a caller passing 0 has a bug in its mapping.
    if (!Number.isFinite(weight) || weight < 1) {
      throw new RangeError(`host ${address}:${port}: weight must be >= 1 (Istio maps 0 to 1), got ${weight}`)
    }
    this.address = address
    this.port = port
    this.labels = labels
    this.weight = weight
    this.locality = locality
    this.key = address.includes(':') ? `[${address}]:${port}` : `${address}:${port}`
    this.activeRequests = 0
    this.ejected = false
    this.ejectionCount = 0
    this.ejectedUntil = 0
    this.consecutive5xx = 0
    this.consecutiveGatewayFailure = 0
    this.consecutiveLocalOriginFailure = 0
    this.ejectTimeBackoff = 0
    this.lastEjectionTime = -1
    this.lastUnejectionTime = -1
    this.sharedEntry = -1
  }

  get healthy (): boolean {
    return !this.ejected
  }
}
