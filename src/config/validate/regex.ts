// Istio matches with RE2 (Envoy's safe_regex), not JavaScript's engine: lookaheads and
// backreferences that V8 accepts are rejected here, as istiod rejects them.
import type { RE2 as RE2Class } from 're2-wasm'

// re2-wasm costs ~8 MB of memory once loaded; most configs have no regex, so load it on first use.
let re2Ctor: typeof RE2Class | null = null
function loadRE2 (): typeof RE2Class {
  if (re2Ctor === null) re2Ctor = (require('re2-wasm') as typeof import('re2-wasm')).RE2
  return re2Ctor
}

/** Envoy caps RE2 program size; Istio approximates that with a length limit. */
const MAX_REGEX_LENGTH = 1024

export function checkRE2 (pattern: string, where: string): string | undefined {
  if (pattern.length > MAX_REGEX_LENGTH) return `"${where}": regex is too large, max length allowed is ${MAX_REGEX_LENGTH}`
  try {
    // eslint-disable-next-line no-new
    new (loadRE2())(pattern, 'u')
    return undefined
  } catch (err) {
    const reason = err instanceof Error ? err.message.replace(/^Invalid regular expression: \/.*\/u: /s, '') : String(err)
    return `"${where}": ${reason}; Istio uses RE2 style regex-based match (https://github.com/google/re2/wiki/Syntax)`
  }
}
