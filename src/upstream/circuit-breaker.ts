// Envoy's cluster circuit breakers (`ResourceManagerImpl`, default priority only): plain
// counters with a limit. Callers ask `canCreate()` before taking a resource, `inc()` when they
// take it and `dec()` when they give it back. Nothing here queues or waits: what to do at the
// limit (queue as pending, answer 503 `UO`) is the connection pool's and router's decision.
//
// Istio mapping (applyConnectionPool): tcp.maxConnections → max_connections,
// http.http1MaxPendingRequests → max_pending_requests, http.http2MaxRequests → max_requests,
// http.maxRetries → max_retries. Unset (or 0) means 2^32-1 in Istio, i.e. unlimited; Ferry uses
// Infinity and the stats layer prints whatever finite stand-in it prefers for `remaining_*`.
// The limits are per cluster and per proxy process, as in Envoy across all worker threads.
// With --concurrency > 1 Ferry's workers are processes, so a finite limit is kept in shared memory
// instead (SharedResourceLimit in shared-circuit-breaker.ts); both fit CircuitBreakerResource.
//
// `tryInc()` is check-and-take in one step. Envoy's callers do canCreate() then inc(), which lets
// two worker threads both take the last slot; Ferry's pool and router use tryInc() so a limit
// shared by several workers is never exceeded, and canCreate() stays a read for gauges.

/** One circuit-breaker resource: a count of what is in use and its limit. */
export interface CircuitBreakerResource {
  readonly max: number
  readonly count: number
  /** True when other worker processes take from the same count (shared memory). */
  readonly shared: boolean
  canCreate (): boolean
  /** Takes one if below the limit; false (and nothing taken) at the limit. Atomic when shared. */
  tryInc (): boolean
  inc (): void
  dec (): void
  readonly remaining: number
  readonly open: 0 | 1
}

export class ResourceLimit implements CircuitBreakerResource {
  readonly max: number
  readonly shared: false = false
  /** Resources in use right now. */
  count: number

  /** `max`: the limit, a non-negative integer or Infinity for unlimited. */
  constructor (max: number) {
    if (!(max === Infinity || (Number.isInteger(max) && max >= 0))) {
      throw new RangeError(`circuit breaker limit must be a non-negative integer or Infinity, got ${max}`)
    }
    this.max = max
    this.count = 0
  }

  canCreate (): boolean {
    return this.count < this.max
  }

  tryInc (): boolean {
    if (this.count >= this.max) return false
    this.count++
    return true
  }

  inc (): void {
    this.count++
  }

  dec (): void {
    // Envoy asserts here. An unbalanced dec is a bug in the caller that would silently raise
    // the effective limit forever, so fail loudly instead of clamping.
    if (this.count === 0) throw new Error('circuit breaker: dec() without a matching inc()')
    this.count--
  }

  /** Envoy gauge `remaining_*`: how many more may be created (Infinity when unlimited). */
  get remaining (): number {
    return this.count >= this.max ? 0 : this.max - this.count
  }

  /** Envoy gauge `*_open`: 1 while the limit is reached, else 0. */
  get open (): 0 | 1 {
    return this.count >= this.max ? 1 : 0
  }
}

export interface CircuitBreakerLimits {
  maxConnections: number
  maxPendingRequests: number
  maxRequests: number
  maxRetries: number
}

/** Limits when a cluster has no connectionPool settings (Istio's 2^32-1, i.e. none). */
export const UNLIMITED_CIRCUIT_BREAKER_LIMITS: Readonly<CircuitBreakerLimits> = Object.freeze({
  maxConnections: Infinity,
  maxPendingRequests: Infinity,
  maxRequests: Infinity,
  maxRetries: Infinity
})

/** Index of each resource, as shared memory lays them out. */
export type CircuitBreakerResourceIndex = 0 | 1 | 2 | 3

/** Makes one resource; the default is an in-process ResourceLimit. */
export type ResourceLimitFactory = (max: number, resource: CircuitBreakerResourceIndex) => CircuitBreakerResource

const localLimit: ResourceLimitFactory = (max) => new ResourceLimit(max)

export class CircuitBreakers {
  /** `max_connections`: open upstream connections across all hosts. */
  readonly connections: CircuitBreakerResource
  /** `max_pending_requests`: requests waiting for a connection. */
  readonly pendingRequests: CircuitBreakerResource
  /** `max_requests`: requests in flight. */
  readonly requests: CircuitBreakerResource
  /** `max_retries`: retries in flight (concurrent, not per request). */
  readonly retries: CircuitBreakerResource

  constructor (limits: CircuitBreakerLimits, make: ResourceLimitFactory = localLimit) {
    this.connections = make(limits.maxConnections, 0)
    this.pendingRequests = make(limits.maxPendingRequests, 1)
    this.requests = make(limits.maxRequests, 2)
    this.retries = make(limits.maxRetries, 3)
  }

  // Gauges `circuit_breakers.default.*`, derived on read so they can never drift from the counters.
  get cxOpen (): 0 | 1 { return this.connections.open }
  get rqPendingOpen (): 0 | 1 { return this.pendingRequests.open }
  get rqOpen (): 0 | 1 { return this.requests.open }
  get rqRetryOpen (): 0 | 1 { return this.retries.open }
  get remainingCx (): number { return this.connections.remaining }
  get remainingPending (): number { return this.pendingRequests.remaining }
  get remainingRq (): number { return this.requests.remaining }
  get remainingRetries (): number { return this.retries.remaining }
}
