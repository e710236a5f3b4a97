// Istio matches with RE2 (Envoy's safe_regex), not JavaScript's engine: lookaheads and
// backreferences that V8 accepts are rejected here, as istiod rejects them.
import { RE2 } from 're2-wasm'

/** Envoy caps RE2 program size; Istio approximates that with a length limit. */
const MAX_REGEX_LENGTH = 1024

export function checkRE2 (pattern: string, where: string): string | undefined {
  if (pattern.length > MAX_REGEX_LENGTH) return `"${where}": regex is too large, max length allowed is ${MAX_REGEX_LENGTH}`
  try {
    // eslint-disable-next-line no-new
    new RE2(pattern, 'u')
    return undefined
  } catch (err) {
    const reason = err instanceof Error ? err.message.replace(/^Invalid regular expression: \/.*\/u: /s, '') : String(err)
    return `"${where}": ${reason}; Istio uses RE2 style regex-based match (https://github.com/google/re2/wiki/Syntax)`
  }
}
