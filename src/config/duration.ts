// Istio durations are google.protobuf.Duration in JSON form ("1.5s") but users also write
// Go-style durations ("250ms", "1m", "1h30m"). Istio's webhook accepts both; so do we.

const UNIT_MS: Record<string, number> = { h: 3_600_000, m: 60_000, s: 1000, ms: 1, us: 0.001, 'µs': 0.001, ns: 0.000001 }
const PART = /(\d+(?:\.\d*)?|\.\d+)(h|ms|m|s|us|µs|ns)/y

/** Milliseconds for a duration string, or null when it is not one. */
export function parseDuration(text: unknown): number | null {
  if (typeof text !== 'string' || text.length === 0) return null
  let total = 0
  PART.lastIndex = 0
  let matched = 0
  while (PART.lastIndex < text.length) {
    const start = PART.lastIndex
    const m = PART.exec(text)
    if (m === null || m.index !== start) return null
    total += Number(m[1]) * UNIT_MS[m[2]]
    matched++
  }
  return matched > 0 ? total : null
}
