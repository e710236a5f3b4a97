// HTTP/1.1 connection pool of one cluster, with Envoy's cluster-wide circuit breakers.
//
// Each UpstreamConnection is one undici Client with pipelining 1, used for exactly one socket
// lifetime: when its socket closes the client is retired. That makes "connections" countable
// (Envoy's max_connections is per cluster, across all hosts), lets us know whether a failed
// request was written on a reused socket (the keep-alive race), and makes
// maxRequestsPerConnection a count on the connection (undici's own maxRequestsPerClient lets one
// request more through than asked before it resets the socket, so Ferry does not use it).
//
// Requests that find no idle connection and may not open one wait as pending (per host, the
// breaker counts them cluster-wide); past max_pending_requests they overflow at once (UO).

import type { Client as UndiciClient, Dispatcher } from 'undici'
import type { Host } from './host'
import type { CircuitBreakers } from './circuit-breaker'
import type { ClusterStats } from '../observability/stats'
import type { ConnectionLimits } from '../model/traffic-policy'

/** undici's callback-style handler (the fast path: no promise, raw header buffers). */
export interface RawHandler {
  onConnect (abort: (err?: Error) => void): void
  onHeaders (statusCode: number, rawHeaders: Buffer[], resume: () => void, statusText: string): boolean
  onData (chunk: Buffer): boolean
  onComplete (trailers: Buffer[] | null): void
  onError (err: Error): void
  onUpgrade? (statusCode: number, rawHeaders: Buffer[] | string[] | null, socket: import('node:stream').Duplex): void
}

/** Told when the pool grants the request a connection, so the caller can dispatch. */
export interface PoolWaiter {
  onPoolReady (conn: UpstreamConnection): void
  /** The pending queue overflowed or the pool closed: answer 503 UO. */
  onPoolOverflow (): void
}

const DISABLED_IDLE_TIMEOUT_MS = 3_600_000

/**
 * undici's HTTP/1.1 Client on its own. `require('undici')` loads the whole API (fetch, WebSocket,
 * caches, mocks) and cost 20 MB of RSS against 11 MB for the Client; nothing else of undici runs
 * in the proxy. test/unit/upstream/undici-client.test.ts checks this is the class undici exports,
 * so an undici upgrade that moves the file fails a test instead of the proxy.
 */
const Client = require('undici/lib/dispatcher/client.js') as typeof UndiciClient
type Client = UndiciClient

export class UpstreamConnection {
  readonly client: Client
  /** Requests completed on the current socket; > 0 means the socket is reused. */
  requestsOnSocket = 0
  busy = false
  dead = false
  /** maxRequestsPerConnection; 0: unlimited. */
  private readonly maxRequests: number
  /** tcp.maxConnectionDuration; 0: unlimited. */
  private readonly maxDurationMs: number
  /** Set when maxConnectionDuration passed: the connection takes no new request. */
  private expired = false
  private durationTimer: NodeJS.Timeout | null = null

  constructor (readonly pool: HostPool, origin: string, limits: ConnectionLimits) {
    this.maxRequests = limits.maxRequestsPerConnection
    this.maxDurationMs = limits.maxConnectionDurationMs
    // Istio's `idleTimeout: 0s` disables the idle timeout; undici refuses 0, and an upstream
    // keeps no socket forever either, so "disabled" still honours hints for up to an hour.
    const idleMs = limits.idleTimeoutMs > 0 ? limits.idleTimeoutMs : DISABLED_IDLE_TIMEOUT_MS
    this.client = new Client(origin, {
      pipelining: 1,
      connectTimeout: limits.connectTimeoutMs,
      headersTimeout: 0, // route and per-try timeouts are ours
      bodyTimeout: 0,
      // Close idle sockets before the upstream does: undici honours a `Keep-Alive: timeout=`
      // hint minus a threshold; without one we keep at most a minute (Envoy keeps an hour,
      // which is what makes the 503 UC race so common).
      keepAliveTimeout: Math.min(idleMs, 60_000),
      keepAliveMaxTimeout: idleMs,
      keepAliveTimeoutThreshold: 1000,
      strictContentLength: true,
      // A Client option, not a `connect` one: undici's connector overwrites `connect.localAddress`
      // with the Client's own (undefined), so the inbound cluster's 127.0.0.6 was silently lost.
      ...(pool.cluster.localAddress !== null ? { localAddress: pool.cluster.localAddress } : {}),
      connect: {
        ...(limits.tcpKeepalive !== null ? { keepAlive: true, keepAliveInitialDelay: limits.tcpKeepalive.timeMs } : {})
      }
    })
    this.client.on('connect', this.onSocketConnect)
    this.client.on('disconnect', this.onSocketDisconnect)
    this.client.on('connectionError', this.onConnectionError)
  }

  private readonly onSocketConnect = (): void => {
    this.requestsOnSocket = 0
    this.pool.stats.upstream_cx_total.inc()
    this.pool.stats.upstream_cx_active.inc()
    if (this.maxDurationMs > 0) {
      this.durationTimer = setTimeout(this.onMaxDuration, this.maxDurationMs)
      this.durationTimer.unref()
    }
  }

  /**
   * Envoy's max_connection_duration: the connection is drained, not cut. An idle one closes now;
   * a busy one finishes its request and then closes.
   */
  private readonly onMaxDuration = (): void => {
    this.durationTimer = null
    this.expired = true
    this.pool.stats.upstream_cx_max_duration_reached.inc()
    if (!this.busy) this.retire()
  }

  private readonly onSocketDisconnect = (_origin: unknown, _targets: unknown, err: Error & { code?: string }): void => {
    this.pool.stats.upstream_cx_active.dec()
    this.pool.stats.upstream_cx_destroy.inc()
    if (err?.code === 'UND_ERR_SOCKET' || err?.code === 'ECONNRESET') this.pool.stats.upstream_cx_destroy_remote.inc()
    else this.pool.stats.upstream_cx_destroy_local.inc()
    this.retire()
  }

  private readonly onConnectionError = (_origin: unknown, _targets: unknown, err: Error & { code?: string }): void => {
    // Envoy counts a connection in upstream_cx_total when it starts connecting, so a failed
    // connect is in both upstream_cx_total and upstream_cx_connect_fail; onSocketConnect never ran.
    this.pool.stats.upstream_cx_total.inc()
    this.pool.stats.upstream_cx_connect_fail.inc()
    if (err?.code === 'UND_ERR_CONNECT_TIMEOUT') this.pool.stats.upstream_cx_connect_timeout.inc()
    this.retire()
  }

  /** The socket is gone: this client will not be handed out again. */
  retire (): void {
    if (this.dead) return
    this.dead = true
    if (this.durationTimer !== null) clearTimeout(this.durationTimer)
    this.pool.remove(this)
    this.client.destroy().catch(() => {})
  }

  dispatch (opts: Dispatcher.DispatchOptions, handler: RawHandler): void {
    // The last request this socket may carry says `connection: close`, so the upstream knows too.
    const last = this.maxRequests > 0 && this.requestsOnSocket + 1 >= this.maxRequests
    this.client.dispatch(last ? { ...opts, reset: true } : opts, handler as unknown as Dispatcher.DispatchHandler)
  }

  /** The attempt using this connection is over; `reusable` false retires it (reset, timeout...). */
  release (reusable: boolean): void {
    this.busy = false
    if (!reusable || this.dead || this.expired) {
      this.retire()
      return
    }
    this.requestsOnSocket++
    if (this.maxRequests > 0 && this.requestsOnSocket >= this.maxRequests) {
      this.pool.stats.upstream_cx_max_requests.inc()
      this.retire()
      return
    }
    this.pool.onIdle(this)
  }
}

export class HostPool {
  readonly idle: UpstreamConnection[] = []
  readonly all = new Set<UpstreamConnection>()
  readonly pending: PoolWaiter[] = []
  private readonly origin: string

  constructor (
    readonly host: Host,
    readonly cluster: ClusterPools,
    readonly stats: ClusterStats
  ) {
    this.origin = `http://${host.key}`
  }

  acquire (waiter: PoolWaiter): void {
    const breakers = this.cluster.breakers
    const conn = this.idle.pop()
    if (conn !== undefined) {
      conn.busy = true
      waiter.onPoolReady(conn)
      return
    }
    // tryInc: check and take in one step, so workers sharing the limit never both take the last slot.
    if (breakers.connections.tryInc()) {
      waiter.onPoolReady(this.open(true))
      return
    }
    this.stats.upstream_cx_overflow.inc()
    if (this.all.size === 0 && !breakers.connections.shared) {
      // Envoy's ConnPoolImplBase: a host pool with no connection at all opens one even over
      // max_connections, or its pending requests could wait on another host's idle socket.
      // With --concurrency > 1 that would be one extra connection per worker; there the limit
      // stays exact and idle sockets are handed back instead (SharedPoolCoordinator).
      waiter.onPoolReady(this.open(false))
      return
    }
    if (!breakers.pendingRequests.tryInc()) {
      this.stats.upstream_rq_pending_overflow.inc()
      waiter.onPoolOverflow()
      return
    }
    this.stats.upstream_rq_pending_total.inc()
    this.stats.upstream_rq_pending_active.inc()
    this.pending.push(waiter)
    this.cluster.updateGauges()
  }

  /** A waiter that gave up (client went away, route timeout) leaves the queue. */
  cancel (waiter: PoolWaiter): void {
    const i = this.pending.indexOf(waiter)
    if (i < 0) return
    this.pending.splice(i, 1)
    this.cluster.breakers.pendingRequests.dec()
    this.stats.upstream_rq_pending_active.dec()
    this.cluster.updateGauges()
  }

  /** `reserved`: the caller already took the connection slot with tryInc(). */
  private open (reserved: boolean): UpstreamConnection {
    if (!reserved) this.cluster.breakers.connections.inc()
    const conn = new UpstreamConnection(this, this.origin, this.cluster.limits)
    conn.busy = true
    this.all.add(conn)
    this.cluster.updateGauges()
    return conn
  }

  onIdle (conn: UpstreamConnection): void {
    const next = this.takePending()
    if (next !== null) {
      conn.busy = true
      next.onPoolReady(conn)
      return
    }
    this.idle.push(conn)
  }

  private takePending (): PoolWaiter | null {
    const next = this.pending.shift()
    if (next === undefined) return null
    this.cluster.breakers.pendingRequests.dec()
    this.stats.upstream_rq_pending_active.dec()
    this.cluster.updateGauges()
    return next
  }

  remove (conn: UpstreamConnection): void {
    if (!this.all.delete(conn)) return
    const i = this.idle.indexOf(conn)
    if (i >= 0) this.idle.splice(i, 1)
    this.cluster.breakers.connections.dec()
    this.cluster.updateGauges()
    // A connection slot freed up: a pending request of any host of the cluster may now open one.
    this.cluster.servePending()
  }

  /** Opens a connection for the first pending request, if the breaker allows. */
  servePendingOne (): boolean {
    if (this.pending.length === 0) return false
    const connections = this.cluster.breakers.connections
    const reserved = connections.tryInc()
    if (!reserved && (this.all.size > 0 || connections.shared)) return false
    const next = this.takePending()
    if (next === null) {
      if (reserved) connections.dec()
      return false
    }
    next.onPoolReady(this.open(reserved))
    return true
  }

  /**
   * Shared limits: another worker's request waits for a connection slot this worker holds idle.
   * Closes one idle connection; the slot is given back when its socket has closed, so the
   * upstream never sees more connections than the limit.
   */
  releaseIdle (): boolean {
    const conn = this.idle.shift()
    if (conn === undefined) return false
    conn.busy = true
    conn.client.destroy().then(() => conn.retire(), () => conn.retire())
    return true
  }

  close (): void {
    for (const w of this.pending.splice(0)) {
      this.cluster.breakers.pendingRequests.dec()
      w.onPoolOverflow()
    }
    for (const c of this.all) void c.client.close().catch(() => {})
  }
}

/** The pools of every host of one cluster, sharing its circuit breakers. */
export class ClusterPools {
  private readonly pools = new Map<Host, HostPool>()

  constructor (
    readonly limits: ConnectionLimits,
    readonly breakers: CircuitBreakers,
    readonly stats: ClusterStats,
    readonly localAddress: string | null = null
  ) {
    this.updateGauges()
  }

  forHost (host: Host): HostPool {
    let p = this.pools.get(host)
    if (p === undefined) {
      p = new HostPool(host, this, this.stats)
      this.pools.set(host, p)
    }
    return p
  }

  servePending (): void {
    for (const p of this.pools.values()) {
      while (p.servePendingOne()) { /* keep granting while slots remain */ }
    }
  }

  /** Requests of this worker waiting for a connection. */
  get pendingCount (): number {
    let n = 0
    for (const p of this.pools.values()) n += p.pending.length
    return n
  }

  /** Closes one idle connection of any host (see HostPool.releaseIdle); false when none is idle. */
  releaseIdle (): boolean {
    for (const p of this.pools.values()) if (p.releaseIdle()) return true
    return false
  }

  updateGauges (): void {
    const b = this.breakers
    const cb = this.stats.circuit_breakers
    cb.cx_open.set(b.connections.canCreate() ? 0 : 1)
    cb.rq_pending_open.set(b.pendingRequests.canCreate() ? 0 : 1)
    cb.rq_open.set(b.requests.canCreate() ? 0 : 1)
    cb.rq_retry_open.set(b.retries.canCreate() ? 0 : 1)
    cb.remaining_cx.set(finite(b.connections.remaining))
    cb.remaining_pending.set(finite(b.pendingRequests.remaining))
    cb.remaining_rq.set(finite(b.requests.remaining))
    cb.remaining_retries.set(finite(b.retries.remaining))
  }

  close (): void {
    for (const p of this.pools.values()) p.close()
    this.pools.clear()
  }
}

// Envoy reports an unlimited resource's remaining count as its 2^32-1 default.
const finite = (n: number): number => (Number.isFinite(n) ? n : 4294967295)
