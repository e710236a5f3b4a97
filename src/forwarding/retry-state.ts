// Per-request retry bookkeeping (Envoy's RetryStateImpl). It answers with a value; the caller
// performs the retry. Time and randomness come in from outside so tests never sleep.

import { RetryOn, type RetryPolicy } from './retry-policy'

/** How an attempt ended, as far as retry decisions care. */
export const enum AttemptOutcome {
  /** Headers arrived; look at the status code. */
  Response,
  /** TCP connect failed or timed out (UF). */
  ConnectFailure,
  /** The connection reset or closed before any response byte (UC/UR) on a fresh connection. */
  Reset,
  /** Same, on a connection that had served earlier requests: the keep-alive race. */
  ResetOnReusedConnection,
  /** The per-try timeout fired before headers. */
  PerTryTimeout,
  /** The upstream answered bytes that are not HTTP (UPE). */
  ProtocolError
}

export const enum RetryDecision {
  No,
  Retry,
  /** Retriable, but the retries are used up (URX, upstream_rq_retry_limit_exceeded). */
  LimitExceeded
}

const GRPC_CANCELLED = '1'
const GRPC_DEADLINE_EXCEEDED = '4'
const GRPC_RESOURCE_EXHAUSTED = '8'
const GRPC_INTERNAL = '13'
const GRPC_UNAVAILABLE = '14'

export class RetryState {
  retriesDone = 0
  /** Keep-alive race retries are ours, outside the policy's count, and allowed once. */
  raceRetried = false

  constructor (readonly policy: RetryPolicy, private readonly random: () => number) {}

  /** Whether the outcome is one `retryOn` covers (before counting). */
  wouldRetry (outcome: AttemptOutcome, status: number, grpcStatus: string | undefined): boolean {
    const on = this.policy.retryOn
    switch (outcome) {
      // Envoy's wouldRetryFromReset: a failed connect also matches reset-before-request (nothing
      // was sent); every reset, protocol error included, matches 5xx, gateway-error and reset.
      case AttemptOutcome.ConnectFailure:
        return (on & (RetryOn.ConnectFailure | RetryOn.ResetBeforeRequest | RetryOn.FiveXx | RetryOn.GatewayError | RetryOn.Reset)) !== 0
      case AttemptOutcome.Reset:
      case AttemptOutcome.ResetOnReusedConnection:
      case AttemptOutcome.PerTryTimeout:
      case AttemptOutcome.ProtocolError:
        return (on & (RetryOn.Reset | RetryOn.FiveXx | RetryOn.GatewayError)) !== 0
      case AttemptOutcome.Response:
        if ((on & RetryOn.FiveXx) !== 0 && status >= 500) return true
        if ((on & RetryOn.GatewayError) !== 0 && (status === 502 || status === 503 || status === 504)) return true
        if ((on & RetryOn.Retriable4xx) !== 0 && status === 409) return true
        if ((on & RetryOn.RetriableStatusCodes) !== 0 && this.policy.retriableStatusCodes.has(status)) return true
        if (grpcStatus !== undefined) {
          if ((on & RetryOn.GrpcCancelled) !== 0 && grpcStatus === GRPC_CANCELLED) return true
          if ((on & RetryOn.GrpcDeadlineExceeded) !== 0 && grpcStatus === GRPC_DEADLINE_EXCEEDED) return true
          if ((on & RetryOn.GrpcInternal) !== 0 && grpcStatus === GRPC_INTERNAL) return true
          if ((on & RetryOn.GrpcResourceExhausted) !== 0 && grpcStatus === GRPC_RESOURCE_EXHAUSTED) return true
          if ((on & RetryOn.GrpcUnavailable) !== 0 && grpcStatus === GRPC_UNAVAILABLE) return true
        }
        return false
    }
  }

  decide (outcome: AttemptOutcome, status: number, grpcStatus: string | undefined): RetryDecision {
    if (outcome === AttemptOutcome.ResetOnReusedConnection && !this.raceRetried) {
      // The upstream closed an idle keep-alive connection as we wrote on it: nothing reached
      // the application, so one transparent retry is safe whatever `retryOn` says.
      this.raceRetried = true
      return RetryDecision.Retry
    }
    if (!this.wouldRetry(outcome, status, grpcStatus)) return RetryDecision.No
    if (this.retriesDone >= this.policy.numRetries) return RetryDecision.LimitExceeded
    this.retriesDone++
    return RetryDecision.Retry
  }

  /** Full-jitter exponential backoff before retry number `retriesDone` (Envoy's JitteredExponentialBackOff). */
  backoffMs (): number {
    const n = Math.max(1, this.retriesDone)
    const ceiling = Math.min(this.policy.maxIntervalMs, (2 ** n - 1) * this.policy.baseIntervalMs)
    return Math.floor(this.random() * ceiling)
  }
}
