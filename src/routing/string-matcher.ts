// Istio StringMatch -> a small specialised matcher object, built once per config snapshot.
// Each kind is its own class with one monomorphic `match` so V8 can inline it; none of them
// allocates per call.
import type { StringMatch } from '../config/types'
import { compileRegex, type FullMatchRegex } from './regex'

export interface StringMatcher {
  match(value: string): boolean
}

export class ExactMatcher implements StringMatcher {
  constructor(readonly value: string) {}
  match(value: string): boolean {
    return value === this.value
  }
}

export class PrefixMatcher implements StringMatcher {
  constructor(readonly prefix: string) {}
  match(value: string): boolean {
    return value.startsWith(this.prefix)
  }
}

/**
 * Envoy's case-insensitive path match (`case_sensitive: false`) is absl::EqualsIgnoreCase /
 * StartsWithIgnoreCase: ASCII letters only. We fold the expected value once and compare code
 * units, so `/İ` never equals `/i` (it does not in Envoy either) and nothing is allocated.
 */
export class ExactIgnoreCaseMatcher implements StringMatcher {
  readonly value: string
  constructor(value: string) {
    this.value = asciiLower(value)
  }
  match(value: string): boolean {
    return value.length === this.value.length && asciiEqualsLowered(value, this.value, this.value.length)
  }
}

export class PrefixIgnoreCaseMatcher implements StringMatcher {
  readonly prefix: string
  constructor(prefix: string) {
    this.prefix = asciiLower(prefix)
  }
  match(value: string): boolean {
    return value.length >= this.prefix.length && asciiEqualsLowered(value, this.prefix, this.prefix.length)
  }
}

/** Full-match RE2 semantics (see regex.ts). */
export class RegexMatcher implements StringMatcher {
  constructor(readonly regex: FullMatchRegex) {}
  match(value: string): boolean {
    return this.regex.test(value)
  }
}

/**
 * "The value is there": Istio's empty StringMatch `{}` and `regex: "*"` (not RE2; Istio turns it
 * into Envoy's present_match). Presence itself is decided by the caller, which only calls
 * `match` with a value it found.
 */
export class PresentMatcher implements StringMatcher {
  match(_value: string): boolean {
    return true
  }
}

export const PRESENT: StringMatcher = new PresentMatcher()

/**
 * True for the StringMatch forms Istio compiles to Envoy present_match (route.go
 * canBeConvertedToPresentMatch): none of exact/prefix/regex set, or `regex: "*"`.
 */
export function isPresentMatch(m: StringMatch | null | undefined): boolean {
  if (m === null || m === undefined) return true
  if (m.exact !== undefined || m.prefix !== undefined) return false
  return m.regex === undefined || m.regex === '*'
}

/**
 * Compile one StringMatch. `ignoreCase` applies to exact and prefix only (Istio's ignoreUriCase;
 * Envoy ignores case_sensitive for safe_regex). The proto is a oneof, so validation rejects more
 * than one field; if several slip through we take exact, then prefix, then regex.
 * Throws SyntaxError for a regex RE2 rejects: validation should have caught it.
 */
export function compileStringMatcher(m: StringMatch, ignoreCase = false): StringMatcher {
  if (m.exact !== undefined) return ignoreCase ? new ExactIgnoreCaseMatcher(m.exact) : new ExactMatcher(m.exact)
  if (m.prefix !== undefined) {
    if (m.prefix === '') return PRESENT // every string starts with ''
    return ignoreCase ? new PrefixIgnoreCaseMatcher(m.prefix) : new PrefixMatcher(m.prefix)
  }
  if (m.regex !== undefined && m.regex !== '*') return new RegexMatcher(compileRegex(m.regex))
  return PRESENT
}

function asciiLower(s: string): string {
  return s.replace(/[A-Z]/g, c => String.fromCharCode(c.charCodeAt(0) | 0x20))
}

/** `value[0..n)` equals `lowered[0..n)` after folding ASCII A-Z in `value`. */
function asciiEqualsLowered(value: string, lowered: string, n: number): boolean {
  for (let i = 0; i < n; i++) {
    let c = value.charCodeAt(i)
    if (c >= 0x41 && c <= 0x5a) c |= 0x20
    if (c !== lowered.charCodeAt(i)) return false
  }
  return true
}
