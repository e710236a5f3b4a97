// VirtualService `fault`: shared immutable FaultConfig built at compile time; the per-request
// decision is two draws from an injected random source (style habits 2 and 6).

import type { HTTPFaultInjection } from '../config/types'
import { parseDuration } from '../config/duration'

// gRPC status names to codes, for `abort.grpcStatus`.
const GRPC_CODES: Record<string, number> = {
  OK: 0, CANCELLED: 1, UNKNOWN: 2, INVALID_ARGUMENT: 3, DEADLINE_EXCEEDED: 4, NOT_FOUND: 5, ALREADY_EXISTS: 6,
  PERMISSION_DENIED: 7, RESOURCE_EXHAUSTED: 8, FAILED_PRECONDITION: 9, ABORTED: 10, OUT_OF_RANGE: 11,
  UNIMPLEMENTED: 12, INTERNAL: 13, UNAVAILABLE: 14, DATA_LOSS: 15, UNAUTHENTICATED: 16
}

export class FaultConfig {
  constructor (
    readonly delayMs: number,
    /** Percent 0..100 of requests delayed; 0 when no delay is configured. */
    readonly delayPercent: number,
    readonly abortStatus: number,
    /** gRPC status code for a gRPC abort (HTTP 200 + grpc-status), or -1. */
    readonly abortGrpcStatus: number,
    readonly abortPercent: number
  ) {}

  static compile (f: HTTPFaultInjection | undefined): FaultConfig | null {
    if (f === undefined) return null
    let delayMs = 0
    let delayPercent = 0
    if (f.delay !== undefined) {
      delayMs = parseDuration(f.delay.fixedDelay ?? f.delay.exponentialDelay) ?? 0
      // No percentage means 0% (Istio); the deprecated integer `percent` is honoured.
      delayPercent = f.delay.percentage?.value ?? f.delay.percent ?? 0
    }
    let abortStatus = 0
    let abortGrpcStatus = -1
    let abortPercent = 0
    if (f.abort !== undefined) {
      if (f.abort.grpcStatus !== undefined) {
        abortGrpcStatus = GRPC_CODES[f.abort.grpcStatus.toUpperCase()] ?? Number(f.abort.grpcStatus)
        abortStatus = 200
      } else {
        abortStatus = f.abort.httpStatus ?? 0
      }
      abortPercent = f.abort.percentage?.value ?? 0
    }
    if ((delayMs <= 0 || delayPercent <= 0) && (abortStatus === 0 || abortPercent <= 0)) return null
    return new FaultConfig(delayMs, delayPercent, abortStatus, abortGrpcStatus, abortPercent)
  }

  /** Whether this request is delayed, given a uniform draw in [0,1). */
  shouldDelay (random01: number): boolean {
    return this.delayMs > 0 && random01 * 100 < this.delayPercent
  }

  shouldAbort (random01: number): boolean {
    return this.abortStatus !== 0 && random01 * 100 < this.abortPercent
  }
}
