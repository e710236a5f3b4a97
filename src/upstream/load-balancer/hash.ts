// xxHash32 (seed selectable) over the UTF-8 bytes of a string.
//
// Envoy hashes with xxHash64. A 64-bit xxHash in JS needs BigInt or 16-bit limb arithmetic,
// which costs far more per request than the distribution gain is worth; xxHash32 with Math.imul
// has the same avalanche quality at 32 bits. Consequence: Ferry's ring and Maglev positions
// differ from Envoy's, so the same key may map to a different host than an Envoy sidecar would
// pick. Stickiness within Ferry is what consistent hashing promises, and that holds.

const P1 = 0x9e3779b1
const P2 = 0x85ebca77
const P3 = 0xc2b2ae3d
const P4 = 0x27d4eb2f
const P5 = 0x165667b1

// One scratch buffer reused by every call so hashing a header value allocates nothing.
let scratch = Buffer.allocUnsafe(256)

function rotl (x: number, r: number): number {
  return (x << r) | (x >>> (32 - r))
}

function read32 (b: Uint8Array, i: number): number {
  return b[i] | (b[i + 1] << 8) | (b[i + 2] << 16) | (b[i + 3] << 24)
}

/** xxHash32 of the UTF-8 encoding of `text`, as an unsigned 32-bit integer. */
export function xxHash32 (text: string, seed: number = 0): number {
  // A UTF-16 code unit encodes to at most 3 UTF-8 bytes.
  if (text.length * 3 > scratch.length) scratch = Buffer.allocUnsafe(text.length * 3)
  const len = scratch.write(text, 0, 'utf8')
  return xxHash32Bytes(scratch, len, seed)
}

export function xxHash32Bytes (b: Uint8Array, len: number, seed: number): number {
  let i = 0
  let h: number
  if (len >= 16) {
    let v1 = (seed + P1 + P2) | 0
    let v2 = (seed + P2) | 0
    let v3 = seed | 0
    let v4 = (seed - P1) | 0
    const limit = len - 16
    while (i <= limit) {
      v1 = Math.imul(rotl((v1 + Math.imul(read32(b, i), P2)) | 0, 13), P1)
      v2 = Math.imul(rotl((v2 + Math.imul(read32(b, i + 4), P2)) | 0, 13), P1)
      v3 = Math.imul(rotl((v3 + Math.imul(read32(b, i + 8), P2)) | 0, 13), P1)
      v4 = Math.imul(rotl((v4 + Math.imul(read32(b, i + 12), P2)) | 0, 13), P1)
      i += 16
    }
    h = (rotl(v1, 1) + rotl(v2, 7) + rotl(v3, 12) + rotl(v4, 18)) | 0
  } else {
    h = (seed + P5) | 0
  }
  h = (h + len) | 0
  while (i + 4 <= len) {
    h = Math.imul(rotl((h + Math.imul(read32(b, i), P3)) | 0, 17), P4)
    i += 4
  }
  while (i < len) {
    h = Math.imul(rotl((h + Math.imul(b[i], P5)) | 0, 11), P1)
    i++
  }
  h ^= h >>> 15
  h = Math.imul(h, P2)
  h ^= h >>> 13
  h = Math.imul(h, P3)
  h ^= h >>> 16
  return h >>> 0
}
