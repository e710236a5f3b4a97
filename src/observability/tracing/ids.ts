import { randomFillSync } from 'node:crypto'

// Trace and span ids come from the kernel CSPRNG, but one syscall per id would dominate the cost of an
// unsampled request. A pooled buffer amortises it: 4 KiB is 512 span ids per randomFillSync call.
const POOL_SIZE = 4096
const pool = Buffer.allocUnsafe(POOL_SIZE)
let poolOffset = POOL_SIZE

const ZERO_64 = '0000000000000000'

function take8(): string {
  if (poolOffset + 8 > POOL_SIZE) {
    randomFillSync(pool)
    poolOffset = 0
  }
  const start = poolOffset
  poolOffset += 8
  return pool.toString('hex', start, start + 8)
}

/** A random 64-bit id as 16 lowercase hex characters; never all zeros, which B3 and Zipkin treat as "absent". */
export function newSpanId(): string {
  let id = take8()
  while (id === ZERO_64) id = take8()
  return id
}

/** A random 128-bit trace id as 32 lowercase hex characters (Envoy's and Istio's default width). */
export function newTraceId(): string {
  // Neither half is ever zero: a zero high half would make the id indistinguishable from a padded 64-bit one.
  return newSpanId() + newSpanId()
}

/**
 * Whether `s` is `len` hex characters and not all zeros. Upper-case digits are accepted because Envoy's parser
 * (`StringUtil::atoull(.., 16)`) accepts them; callers lower-case before storing, since Zipkin requires lower case.
 */
export function isHexId(s: string, len: 16 | 32): boolean {
  if (s.length !== len) return false
  let nonZero = false
  for (let i = 0; i < len; i++) {
    const c = s.charCodeAt(i)
    if (c >= 0x30 && c <= 0x39) {
      if (c !== 0x30) nonZero = true
    } else if ((c >= 0x61 && c <= 0x66) || (c >= 0x41 && c <= 0x46)) {
      nonZero = true
    } else {
      return false
    }
  }
  return nonZero
}

/** A valid B3 trace id is 64 or 128 bits. */
export function isTraceId(s: string): boolean {
  return isHexId(s, s.length === 32 ? 32 : 16)
}

/**
 * OpenTelemetry requires 32-character trace ids; a 64-bit B3 id is left-padded with zeros, which is how the
 * OpenTelemetry B3 propagator and Zipkin itself relate the two widths.
 */
export function toOtelTraceId(traceId: string): string {
  return traceId.length === 16 ? ZERO_64 + traceId : traceId
}

/**
 * The inverse of toOtelTraceId for reporting: Zipkin normalises a 128-bit id whose high half is zero to its 64-bit
 * form, so doing the same keeps the id a 64-bit caller sent. Ferry's own 128-bit ids never have a zero high half.
 */
export function toZipkinTraceId(traceId: string): string {
  return traceId.length === 32 && traceId.startsWith(ZERO_64) ? traceId.slice(16) : traceId
}
