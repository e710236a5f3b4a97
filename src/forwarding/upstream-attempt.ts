// One try of a request against one upstream host (Envoy's UpstreamRequest). It waits for a
// pooled connection, dispatches on it, and reports back to its ActiveRequest, which decides
// whether to retry. A cancelled attempt ignores everything that arrives later.

import type { Duplex } from 'node:stream'
import type { ActiveRequest } from './active-request'
import type { Cluster } from '../upstream/cluster'
import type { Host } from '../upstream/host'
import type { HostPool, PoolWaiter, RawHandler, UpstreamConnection } from '../upstream/connection-pool'
import { AttemptOutcome } from './retry-state'
import { LocalReply, isUpstreamProtocolError } from './local-reply'

const CONNECT_FAILURES = new Set(['ECONNREFUSED', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN', 'UND_ERR_CONNECT_TIMEOUT', 'EADDRNOTAVAIL'])

export class UpstreamAttempt implements RawHandler, PoolWaiter {
  private conn: UpstreamConnection | null = null
  private abortFn: ((err?: Error) => void) | null = null
  private resumeFn: (() => void) | null = null
  private perTryTimer: NodeJS.Timeout | null = null
  private readonly hostPool: HostPool
  private reused = false
  private headersReceived = false
  private finished = false
  private readonly startMs: number

  constructor (
    readonly request: ActiveRequest,
    readonly cluster: Cluster,
    readonly host: Host,
    private readonly perTryTimeoutMs: number
  ) {
    this.hostPool = cluster.pools.forHost(host)
    this.startMs = request.ctx.proxy.clock.now()
  }

  start (): void {
    const stats = this.cluster.stats
    // The request slot was taken by ActiveRequest.startAttempt (tryInc).
    this.cluster.pools.updateGauges()
    stats.upstream_rq_total.inc()
    stats.upstream_rq_active.inc()
    this.host.activeRequests++
    if (this.perTryTimeoutMs > 0) {
      this.perTryTimer = this.request.ctx.proxy.clock.setTimeout(this.onPerTryTimeout, this.perTryTimeoutMs)
    }
    this.hostPool.acquire(this)
  }

  // ------------------------------------------------------------------ PoolWaiter

  onPoolReady (conn: UpstreamConnection): void {
    if (this.finished) {
      conn.release(true)
      return
    }
    this.conn = conn
    this.reused = conn.requestsOnSocket > 0
    conn.dispatch(this.request.dispatchOptions(), this)
  }

  onPoolOverflow (): void {
    if (this.finished) return
    this.end(false)
    this.request.localReply(LocalReply.overflow)
  }

  // ------------------------------------------------------------------ undici handler

  onConnect (abort: (err?: Error) => void): void {
    this.abortFn = abort
  }

  onHeaders (statusCode: number, rawHeaders: Buffer[], resume: () => void): boolean {
    if (this.finished) return false
    this.headersReceived = true
    this.clearPerTry()
    this.resumeFn = resume
    this.cluster.outlier.putHttpResponseCode(this.host, statusCode)
    this.cluster.stats.responseCode(statusCode)
    const request = this.request
    if (request.retry !== null && request.retry.wouldRetry(AttemptOutcome.Response, statusCode, grpcStatus(rawHeaders))) {
      // A retriable answer: retry if the policy still allows, else forward this response.
      if (request.attemptFailed(this, AttemptOutcome.Response, null, statusCode, grpcStatus(rawHeaders))) {
        this.end(false)
        this.abortFn?.(new Error('retrying'))
        return false
      }
    }
    request.onUpstreamHeaders(this, statusCode, rawHeaders)
    return true
  }

  onData (chunk: Buffer): boolean {
    if (this.finished) return false
    const more = this.request.onUpstreamData(chunk)
    if (!more) this.request.res.once('drain', this.onDrain)
    return more
  }

  private readonly onDrain = (): void => {
    if (!this.finished) this.resumeFn?.()
  }

  onComplete (_trailers: Buffer[] | null): void {
    if (this.finished) return
    this.cluster.stats.upstream_rq_time.observe(this.request.ctx.proxy.clock.now() - this.startMs)
    this.cluster.stats.upstream_rq_completed.inc()
    this.end(true)
    this.request.onUpstreamComplete(this)
  }

  onError (err: Error & { code?: string }): void {
    if (this.finished) return
    this.end(false)
    const code = err.code ?? ''
    let outcome: AttemptOutcome
    if (CONNECT_FAILURES.has(code)) {
      outcome = AttemptOutcome.ConnectFailure
      this.cluster.outlier.putLocalOriginFailure(this.host, 'connect-failure')
    } else if (isUpstreamProtocolError(err)) {
      outcome = AttemptOutcome.ProtocolError
      this.cluster.outlier.putHttpResponseCode(this.host, 502)
    } else {
      outcome = this.reused && !this.headersReceived ? AttemptOutcome.ResetOnReusedConnection : AttemptOutcome.Reset
      this.cluster.outlier.putLocalOriginFailure(this.host, 'reset')
      this.cluster.stats.upstream_rq_rx_reset.inc()
    }
    if (this.headersReceived) {
      this.request.onUpstreamErrorAfterHeaders(this, outcome === AttemptOutcome.ProtocolError ? 'UPE' : 'UC')
      return
    }
    this.request.attemptFailed(this, outcome, err)
  }

  onUpgrade (_statusCode: number, _headers: Buffer[] | string[] | null, socket: Duplex): void {
    // Plain requests never ask for an upgrade; WebSockets go through forwarding/upgrade.ts.
    socket.destroy()
  }

  // ------------------------------------------------------------------ ending

  private readonly onPerTryTimeout = (): void => {
    this.perTryTimer = null
    if (this.finished || this.headersReceived) return
    this.cluster.stats.upstream_rq_per_try_timeout.inc()
    this.cluster.outlier.putLocalOriginFailure(this.host, 'timeout')
    this.end(false)
    this.abortFn?.(new Error('per try timeout'))
    this.request.attemptFailed(this, AttemptOutcome.PerTryTimeout, null)
  }

  /** The request no longer wants this attempt (route timeout, client gone, local reply). */
  cancel (): void {
    if (this.finished) return
    this.cluster.stats.upstream_rq_tx_reset.inc()
    this.end(false)
    this.abortFn?.(new Error('request cancelled'))
  }

  private clearPerTry (): void {
    if (this.perTryTimer !== null) {
      this.request.ctx.proxy.clock.clearTimeout(this.perTryTimer)
      this.perTryTimer = null
    }
  }

  private end (reusable: boolean): void {
    if (this.finished) return
    this.finished = true
    this.clearPerTry()
    this.host.activeRequests--
    this.cluster.breakers.requests.dec()
    this.cluster.stats.upstream_rq_active.dec()
    this.cluster.pools.updateGauges()
    const conn = this.conn
    if (conn !== null) {
      this.conn = null
      conn.release(reusable)
    } else {
      this.hostPool.cancel(this)
    }
  }
}

function grpcStatus (raw: Buffer[]): string | undefined {
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]
    if (name.length === 11 && name.toString('latin1').toLowerCase() === 'grpc-status') return raw[i + 1].toString('latin1')
  }
  return undefined
}
