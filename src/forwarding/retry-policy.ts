// VirtualService `retries`, compiled. Istio's default when a route has none: 2 retries on
// connect-failure,refused-stream,unavailable,cancelled,retriable-status-codes (no codes listed;
// 503 left the default in Istio 1.24 because it replayed non-idempotent requests).

import type { HTTPRetry } from '../config/types'
import { parseDuration } from '../config/duration'

export const enum RetryOn {
  None = 0,
  FiveXx = 1 << 0,
  GatewayError = 1 << 1,
  Reset = 1 << 2,
  ConnectFailure = 1 << 3,
  Retriable4xx = 1 << 4,
  RefusedStream = 1 << 5,
  RetriableStatusCodes = 1 << 6,
  GrpcCancelled = 1 << 7,
  GrpcDeadlineExceeded = 1 << 8,
  GrpcInternal = 1 << 9,
  GrpcResourceExhausted = 1 << 10,
  GrpcUnavailable = 1 << 11,
  Http3PostConnectFailure = 1 << 12,
  EnvoyRateLimited = 1 << 13,
  ResetBeforeRequest = 1 << 14
}

const NAMES: Record<string, RetryOn> = {
  '5xx': RetryOn.FiveXx,
  'gateway-error': RetryOn.GatewayError,
  reset: RetryOn.Reset,
  'reset-before-request': RetryOn.ResetBeforeRequest,
  'connect-failure': RetryOn.ConnectFailure,
  'retriable-4xx': RetryOn.Retriable4xx,
  'refused-stream': RetryOn.RefusedStream,
  'retriable-status-codes': RetryOn.RetriableStatusCodes,
  'retriable-headers': RetryOn.None,
  'envoy-ratelimited': RetryOn.EnvoyRateLimited,
  'http3-post-connect-failure': RetryOn.Http3PostConnectFailure,
  cancelled: RetryOn.GrpcCancelled,
  'deadline-exceeded': RetryOn.GrpcDeadlineExceeded,
  internal: RetryOn.GrpcInternal,
  'resource-exhausted': RetryOn.GrpcResourceExhausted,
  unavailable: RetryOn.GrpcUnavailable
}

export const DEFAULT_RETRY_ON = 'connect-failure,refused-stream,unavailable,cancelled,retriable-status-codes'

export class RetryPolicy {
  constructor (
    readonly numRetries: number,
    /** 0: no per-try timeout. */
    readonly perTryTimeoutMs: number,
    readonly retryOn: number,
    readonly retriableStatusCodes: ReadonlySet<number>,
    readonly baseIntervalMs: number,
    readonly maxIntervalMs: number
  ) {}

  static readonly NONE = new RetryPolicy(0, 0, RetryOn.None, new Set(), 25, 250)

  static compile (r: HTTPRetry | undefined): RetryPolicy {
    if (r === undefined) return RetryPolicy.parse(2, 0, DEFAULT_RETRY_ON, 25)
    // Istio's ConvertPolicy: `retries` with attempts <= 0 disables retrying, and an unset
    // attempts is proto3's 0, so `retries: {retryOn: 5xx}` alone turns retries off.
    const attempts = r.attempts ?? 0
    if (attempts <= 0) return RetryPolicy.NONE
    const base = parseDuration(r.backoff) ?? 25
    return RetryPolicy.parse(attempts, parseDuration(r.perTryTimeout) ?? 0, r.retryOn ?? DEFAULT_RETRY_ON, base)
  }

  private static parse (numRetries: number, perTryTimeoutMs: number, retryOn: string, baseMs: number): RetryPolicy {
    let flags = 0
    const codes = new Set<number>()
    for (const raw of retryOn.split(',')) {
      const name = raw.trim()
      if (name === '') continue
      if (/^\d+$/.test(name)) {
        // A bare status code: Istio turns it into retriable-status-codes with that code.
        codes.add(Number(name))
        flags |= RetryOn.RetriableStatusCodes
        continue
      }
      flags |= NAMES[name] ?? 0
    }
    // Envoy's max interval defaults to 10 × base; with the 25 ms default that is 250 ms.
    return new RetryPolicy(numRetries, perTryTimeoutMs, flags, codes, baseMs, baseMs * 10)
  }
}
