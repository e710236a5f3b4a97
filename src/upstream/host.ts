// One upstream endpoint of a cluster (Envoy's `Host`). Load balancers, the outlier detector
// and the connection pool all read and write the same object, so its shape is fixed here and
// every field is assigned in the constructor (stable hidden class on the hot path).

export class Host {
  /** `address:port`, the form Envoy prints in /clusters and access logs. */
  readonly key: string
  /** Requests in flight to this host; least-request balancing reads it. */
  activeRequests = 0
  /** Set by the outlier detector while the host is ejected. */
  ejected = false
  /** How many times the host has been ejected (ejection time grows with it). */
  ejectionCount = 0
  /** Monotonic time (ms) at which the current ejection ends; 0 when not ejected. */
  ejectedUntil = 0

  constructor (
    readonly address: string,
    readonly port: number,
    readonly labels: Readonly<Record<string, string>> = {},
    /** Load-balancing weight (ServiceEntry endpoint / WorkloadEntry `weight`), default 1. */
    readonly weight: number = 1,
    /** Locality string `region/zone/subzone`, empty when unknown. */
    readonly locality: string = ''
  ) {
    this.key = address.includes(':') ? `[${address}]:${port}` : `${address}:${port}`
  }

  get healthy (): boolean {
    return !this.ejected
  }
}
