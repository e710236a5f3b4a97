import { randomFillSync } from 'node:crypto'

// Trace and span ids come from the kernel CSPRNG, but a syscall and a hex encoding per id would dominate the
// cost of an unsampled request. Instead 16 KiB of randomness is hex-encoded at once and ids are sliced out of the
// string (2048 span ids per refill). The trade-off: V8 keeps a 16-character slice as a view of its parent, so a
// live id pins one 32 KiB pool string; with Zipkin's bounded queue that is at most a few hundred KiB.
const POOL_BYTES = 16384
const poolBuf = Buffer.allocUnsafe(POOL_BYTES)
let hexPool = ''
let hexOffset = 0

const ZERO_64 = '0000000000000000'

function takeHex(n: 16 | 32): string {
  if (hexOffset + n > hexPool.length) {
    randomFillSync(poolBuf)
    hexPool = poolBuf.toString('hex')
    hexOffset = 0
  }
  const start = hexOffset
  hexOffset += n
  return hexPool.slice(start, start + n)
}

/** A random 64-bit id as 16 lowercase hex characters; never all zeros, which B3 and Zipkin treat as "absent". */
export function newSpanId(): string {
  let id = takeHex(16)
  while (id === ZERO_64) id = takeHex(16)
  return id
}

/** A random 128-bit trace id as 32 lowercase hex characters (Envoy's and Istio's default width). */
export function newTraceId(): string {
  // Neither half is ever zero: a zero high half would make the id indistinguishable from a padded 64-bit one.
  let id = takeHex(32)
  while (id.startsWith(ZERO_64) || id.endsWith(ZERO_64)) id = takeHex(32)
  return id
}

export const HEX_INVALID = 0
export const HEX_LOWER = 1
export const HEX_UPPER = 2

/**
 * Classifies `s` as `len` hex characters, not all zeros (B3 and Zipkin read zero as "absent"). Upper-case digits are
 * valid because Envoy's parser (`StringUtil::atoull(.., 16)`) accepts them, but Zipkin requires lower case; telling
 * the two apart here lets the common, already lower-case id skip a toLowerCase allocation.
 */
export function hexIdKind(s: string, len: number): number {
  if (s.length !== len) return HEX_INVALID
  let nonZero = false
  let upper = false
  for (let i = 0; i < len; i++) {
    const c = s.charCodeAt(i)
    if (c >= 0x30 && c <= 0x39) {
      if (c !== 0x30) nonZero = true
    } else if (c >= 0x61 && c <= 0x66) {
      nonZero = true
    } else if (c >= 0x41 && c <= 0x46) {
      nonZero = true
      upper = true
    } else {
      return HEX_INVALID
    }
  }
  return !nonZero ? HEX_INVALID : upper ? HEX_UPPER : HEX_LOWER
}

export function isHexId(s: string, len: 16 | 32): boolean {
  return hexIdKind(s, len) !== HEX_INVALID
}

/** The id in Zipkin's lower case, or '' when invalid. A 64- or 128-bit trace id when `len` is 0. */
export function normaliseHexId(s: string, len: 0 | 16): string {
  const kind = hexIdKind(s, len === 0 ? (s.length === 32 ? 32 : 16) : len)
  return kind === HEX_LOWER ? s : kind === HEX_UPPER ? s.toLowerCase() : ''
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
