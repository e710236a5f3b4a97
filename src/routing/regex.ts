// Envoy's safe_regex: RE2 syntax, and a route/header/query regex must match the WHOLE value
// (Envoy calls re2::RE2::FullMatch). Istio passes the user's pattern through unchanged.
//
// Two engines:
// - RE2 (re2-wasm) is the reference. It is linear-time by construction, but every call crosses
//   into WebAssembly and copies the string: ~4.3 µs per test() on Node 20 (bench/micro).
// - V8's RegExp is a backtracking engine (~30-60 ns here) and can go exponential. We use it only
//   for a small subset of RE2 syntax on which (a) RE2 and V8 agree on every input, and (b) the
//   backtracking is provably linear in the input length. See `analyseForJs` for the proof; the
//   differential fuzz test in test/unit/routing/regex.test.ts checks (a) against RE2 itself.
//   Anything outside the subset, or anything we are unsure of, stays on RE2.
import type { RE2 as RE2Class } from 're2-wasm'

// re2-wasm costs ~8 MB of memory once loaded; most configs have no regex, so load it on first use.
let re2Ctor: typeof RE2Class | null = null
function loadRE2 (): typeof RE2Class {
  if (re2Ctor === null) re2Ctor = (require('re2-wasm') as typeof import('re2-wasm')).RE2
  return re2Ctor
}

/** A compiled regex with full-match semantics. Stateless: safe to share between routes. */
export interface FullMatchRegex {
  /** The user's pattern, unchanged. */
  readonly source: string
  /** Which engine runs it; exposed for tests and for `ferry explain`. */
  readonly engine: 're2' | 'js'
  /** True when the whole of `value` matches the pattern. */
  test(value: string): boolean
  /**
   * Full match with captures: `[whole, group1, ...]`, undefined for a group that did not
   * participate; null when the whole value does not match. Allocates: for rewrites, not matching.
   */
  exec(value: string): (string | undefined)[] | null
}

/** null when RE2 accepts `pattern` (as Envoy would), else RE2's message. */
export function regexError(pattern: string): string | null {
  const wrapped = wrapForRe2(pattern)
  try {
    new (loadRE2())(wrapped, 'u')
    return null
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err)
    // re2-wasm says "Invalid regular expression: /<wrapped>/u: <RE2 error>: <fragment>";
    // keep RE2's part and name the user's pattern, not our wrapping.
    const head = `/${wrapped.replace(/(^|[^\\])((?:\\\\)*)\//g, '$1$2\\/')}/u: `
    const i = message.indexOf(head)
    return `invalid RE2 regex ${JSON.stringify(pattern)}: ${i >= 0 ? message.slice(i + head.length) : message}`
  }
}

// re2-wasm never frees the WebAssembly-side RE2 object (no FinalizationRegistry), so every
// compile leaks a little wasm heap. Config hot reload recompiles everything, so we intern by
// pattern: the cache grows only with the number of *distinct* patterns ever seen. Sharing is safe
// because both implementations are stateless (no 'g'/'y' flags, no lastIndex).
const cache = new Map<string, FullMatchRegex>()

/** Compile (or fetch from the intern cache). Throws SyntaxError if RE2 rejects the pattern. */
export function compileRegex(pattern: string): FullMatchRegex {
  let compiled = cache.get(pattern)
  if (compiled === undefined) {
    // RE2 validates first, always: the JS path must never accept a pattern Envoy would reject.
    const re2 = new (loadRE2())(wrapForRe2(pattern), 'u')
    const js = analyseForJs(pattern)
    compiled = js === null ? new Re2Regex(pattern, re2) : new JsRegex(pattern, new RegExp(js, 'u'))
    cache.set(pattern, compiled)
  }
  return compiled
}

/** Compile on RE2 only, bypassing the JS subset (tests use it as the oracle). */
export function compileRe2Regex(pattern: string): FullMatchRegex {
  return new Re2Regex(pattern, new (loadRE2())(wrapForRe2(pattern), 'u'))
}

// Two classes with the same bodies on purpose: each keeps its `this.re.test` call site
// monomorphic. One class over both engines measured 75 / 52 ns per JS test (hit / miss) against
// 34 / 24 ns (bench/micro/route-match.bench.js), once RE2 and JS regexes share the call site.
class Re2Regex implements FullMatchRegex {
  readonly engine = 're2' as const
  constructor(
    readonly source: string,
    private readonly re: RE2Class,
  ) {}

  test(value: string): boolean {
    return this.re.test(value)
  }

  exec(value: string): (string | undefined)[] | null {
    const m = this.re.exec(value)
    return m === null ? null : Array.from(m)
  }
}

class JsRegex implements FullMatchRegex {
  readonly engine = 'js' as const
  constructor(
    readonly source: string,
    private readonly re: RegExp,
  ) {}

  test(value: string): boolean {
    return this.re.test(value)
  }

  exec(value: string): (string | undefined)[] | null {
    const m = this.re.exec(value)
    return m === null ? null : Array.from(m)
  }
}

// ---------------------------------------------------------------- RE2 wrapping

/**
 * `^(?:pattern)$`, the portable way to get FullMatch from a search API. Two traps:
 * - `\Q...` without `\E` quotes to the end, which would swallow our `)$`;
 * - re2-wasm rewrites `/` to `\/` for JS compatibility, which inside `\Q...\E` would become a
 *   literal backslash.
 * Both go away if we expand `\Q...\E` into escaped literals ourselves.
 */
function wrapForRe2(pattern: string): string {
  return '^(?:' + (pattern.includes('\\Q') ? expandQuotes(pattern) : pattern) + ')$'
}

function expandQuotes(pattern: string): string {
  let out = ''
  let i = 0
  while (i < pattern.length) {
    const c = pattern[i]
    if (c !== '\\') {
      out += c
      i++
      continue
    }
    if (pattern[i + 1] !== 'Q') {
      out += pattern.slice(i, i + 2)
      i += 2
      continue
    }
    i += 2
    while (i < pattern.length && !(pattern[i] === '\\' && pattern[i + 1] === 'E')) {
      const ch = pattern[i]
      // RE2 allows `\` before any ASCII punctuation; letters/digits/non-ASCII stay bare.
      out += /[\x21-\x2f\x3a-\x40\x5b-\x60\x7b-\x7e]/.test(ch) ? '\\' + ch : ch
      i++
    }
    i += 2 // skip \E (or run past the end: unterminated \Q quotes to the end, as in RE2)
  }
  return out
}

// ---------------------------------------------------------------- the JS subset

// A set of code points as sorted, disjoint, inclusive [lo, hi] pairs, flattened.
type Ranges = number[]
const MAX_CP = 0x10ffff

interface Atom {
  set: Ranges
  min: number
  max: number // Infinity for unbounded
  lazy: boolean
}

type Item = Atom | '(' | '(?:' | ')'

/**
 * Returns the JS source for `pattern` when it is in the safe subset, else null.
 *
 * The subset: a top-level alternation of branches; each branch a sequence of single-character
 * atoms (literal, escaped punctuation, `.`, `\d\w\s\D\W\S`, `[...]` classes without POSIX or
 * Unicode classes), optionally quantified (`* + ? {n} {n,} {n,m}`, greedy or lazy), and
 * non-quantified groups `(...)` / `(?:...)` with no alternation inside; `^` only at the start of a
 * branch and `$` only at its end. No flags, no `\b`, no named groups, no `\Q`, no `\p`.
 *
 * Why RE2 and V8 agree there: both use leftmost-first (Perl) semantics for alternation and
 * greedy/lazy repetition, so the same full match and the same captures are found. The character
 * sets are translated to explicit code-point classes so that RE2's definitions win (`.` is
 * "anything but \n" in RE2 but also excludes \r, U+2028, U+2029 in V8; `\s` is [\t\n\f\r ] in RE2
 * but includes \v and Unicode spaces in V8). The 'u' flag makes V8 step by code point, as RE2 does.
 *
 * Why backtracking is linear there: the only choice points are repetitions with min < max and the
 * top-level branches. We require every such atom to be followed (ignoring group brackets) either
 * by the end of the branch or by an atom that must consume at least one character from a set
 * DISJOINT from the repeated atom's set. Then, of all the lengths the repetition can try, only
 * the one ending where the next character leaves its set can possibly continue; every other
 * length fails at the very next atom in O(1). So each repetition costs O(n) probes and at most one
 * continuation, a branch costs O(n * atoms), and the pattern O(n * atoms * branches). Nested or
 * quantified groups (`(a+)+`), adjacent overlapping repetitions (`a*a*`), and alternation inside a
 * repeated group -- the shapes that make backtracking super-linear -- are all outside the subset.
 */
export function analyseForJs(pattern: string): string | null {
  const branches = splitTopLevel(pattern)
  if (branches === null) return null
  const out: string[] = []
  for (const b of branches) {
    const js = analyseBranch(b)
    if (js === null) return null
    out.push(js)
  }
  return '^(?:' + out.join('|') + ')$'
}

/** Split on `|` at depth 0; null if any `|` is nested (or the pattern has things we skip). */
function splitTopLevel(p: string): string[] | null {
  const parts: string[] = []
  let depth = 0
  let inClass = false
  let start = 0
  for (let i = 0; i < p.length; i++) {
    const c = p[i]
    if (c === '\\') {
      i++
      continue
    }
    if (inClass) {
      if (c === ']') inClass = false
      continue
    }
    if (c === '[') {
      inClass = true
      if (p[i + 1] === '^') i++
      if (p[i + 1] === ']') return null // `[]...]` literal-bracket form: not worth supporting
    } else if (c === '(') depth++
    else if (c === ')') depth--
    else if (c === '|') {
      if (depth !== 0) return null
      parts.push(p.slice(start, i))
      start = i + 1
    }
  }
  parts.push(p.slice(start))
  return parts
}

function analyseBranch(p: string): string | null {
  const items: Item[] = []
  let i = 0
  let depth = 0
  let anchoredStart = false
  let anchoredEnd = false
  if (p[0] === '^') {
    anchoredStart = true
    i = 1
  }
  while (i < p.length) {
    const c = p[i]
    let set: Ranges | null = null
    if (c === '(') {
      if (p[i + 1] === '?') {
        if (p[i + 2] !== ':') return null // flags, named groups
        items.push('(?:')
        i += 3
      } else {
        items.push('(')
        i++
      }
      depth++
      continue
    } else if (c === ')') {
      if (depth === 0) return null
      depth--
      items.push(')')
      i++
      if (isQuantifierStart(p, i)) return null // quantified group
      continue
    } else if (c === '$') {
      if (i !== p.length - 1) return null
      anchoredEnd = true
      i++
      continue
    } else if (c === '.') {
      set = DOT
      i++
    } else if (c === '[') {
      const r = parseClass(p, i)
      if (r === null) return null
      set = r.set
      i = r.next
    } else if (c === '\\') {
      const r = parseEscape(p, i + 1)
      if (r === null) return null
      set = r
      i += 2
    } else if ('^*+?{}]|'.includes(c)) {
      return null
    } else {
      const cp = p.codePointAt(i)!
      if (cp >= 0xd800 && cp <= 0xdfff) return null
      set = [cp, cp]
      i += cp > 0xffff ? 2 : 1
    }
    const q = parseQuantifier(p, i)
    if (q === null) return null
    i = q.next
    items.push({ set, min: q.min, max: q.max, lazy: q.lazy })
  }
  if (depth !== 0) return null
  if (!isLinear(items)) return null
  let js = anchoredStart ? '^' : ''
  for (const it of items) js += typeof it === 'string' ? it : emitAtom(it)
  return anchoredEnd ? js + '$' : js
}

function isLinear(items: readonly Item[]): boolean {
  const atoms = items.filter((it): it is Atom => typeof it !== 'string')
  for (let k = 0; k < atoms.length; k++) {
    const a = atoms[k]
    if (a.min === a.max) continue
    const next = atoms[k + 1]
    if (next === undefined) continue
    if (next.min < 1) return false
    if (!disjoint(a.set, next.set)) return false
  }
  return true
}

function isQuantifierStart(p: string, i: number): boolean {
  const c = p[i]
  return c === '*' || c === '+' || c === '?' || (c === '{' && /^\{\d+(,\d*)?\}/.test(p.slice(i)))
}

function parseQuantifier(p: string, i: number): { min: number; max: number; lazy: boolean; next: number } | null {
  let min = 1
  let max = 1
  const c = p[i]
  if (c === '*') {
    min = 0
    max = Infinity
    i++
  } else if (c === '+') {
    max = Infinity
    i++
  } else if (c === '?') {
    min = 0
    i++
  } else if (c === '{') {
    // RE2 treats a malformed `{` as a literal; we just decline those.
    const m = /^\{(\d+)(,(\d*))?\}/.exec(p.slice(i))
    if (m === null) return null
    min = Number(m[1])
    max = m[2] === undefined ? min : m[3] === '' ? Infinity : Number(m[3])
    i += m[0].length
  } else {
    return { min, max, lazy: false, next: i }
  }
  let lazy = false
  if (p[i] === '?') {
    lazy = true
    i++
  }
  if (isQuantifierStart(p, i)) return null // RE2 rejects `a**`; never reached after validation
  return { min, max, lazy, next: i }
}

const DIGIT: Ranges = [0x30, 0x39]
const WORD: Ranges = [0x30, 0x39, 0x41, 0x5a, 0x5f, 0x5f, 0x61, 0x7a]
const SPACE: Ranges = [0x09, 0x0a, 0x0c, 0x0d, 0x20, 0x20] // RE2 \s: [\t\n\f\r ]
const DOT: Ranges = complement([0x0a, 0x0a]) // RE2 `.` without (?s): anything but \n
const CONTROL_ESCAPES: Record<string, number> = { n: 0x0a, t: 0x09, r: 0x0d, f: 0x0c, v: 0x0b, a: 0x07 }

/** The escape at p[i] (after the backslash), outside or inside a class; null if not in subset. */
function parseEscape(p: string, i: number): Ranges | null {
  const e = p[i]
  if (e === undefined) return null
  switch (e) {
    case 'd':
      return DIGIT
    case 'D':
      return complement(DIGIT)
    case 'w':
      return WORD
    case 'W':
      return complement(WORD)
    case 's':
      return SPACE
    case 'S':
      return complement(SPACE)
  }
  if (e in CONTROL_ESCAPES) return [CONTROL_ESCAPES[e], CONTROL_ESCAPES[e]]
  const cp = e.charCodeAt(0)
  // Escaped ASCII punctuation is a literal in RE2. Letters/digits are classes, anchors,
  // back-references or errors (\b \A \z \p \Q \x \1 ...): decline.
  if (cp < 0x80 && !/[0-9A-Za-z]/.test(e)) return [cp, cp]
  return null
}

/** `[...]` starting at p[i]; RE2 syntax minus POSIX `[:...:]` and nested brackets. */
function parseClass(p: string, i: number): { set: Ranges; next: number } | null {
  i++
  let negate = false
  if (p[i] === '^') {
    negate = true
    i++
  }
  let acc: Ranges = []
  let first = true
  for (;;) {
    if (i >= p.length) return null
    let c = p[i]
    if (c === ']' && !first) break
    first = false
    if (c === '[') return null
    let lo: number
    if (c === '\\') {
      const r = parseEscape(p, i + 1)
      if (r === null) return null
      i += 2
      if (r.length !== 2 || r[0] !== r[1]) {
        acc = union(acc, r) // \d \w \s inside a class; never the start of a range
        continue
      }
      lo = r[0]
    } else {
      lo = p.codePointAt(i)!
      if (lo >= 0xd800 && lo <= 0xdfff) return null
      i += lo > 0xffff ? 2 : 1
    }
    let hi = lo
    if (p[i] === '-' && p[i + 1] !== ']' && p[i + 1] !== undefined) {
      c = p[i + 1]
      if (c === '\\') {
        const r = parseEscape(p, i + 2)
        if (r === null || r.length !== 2 || r[0] !== r[1]) return null
        hi = r[0]
        i += 3
      } else if (c === '[') {
        return null
      } else {
        hi = p.codePointAt(i + 1)!
        if (hi >= 0xd800 && hi <= 0xdfff) return null
        i += hi > 0xffff ? 3 : 2
      }
      if (hi < lo) return null
    }
    acc = union(acc, [lo, hi])
  }
  return { set: negate ? complement(acc) : acc, next: i + 1 }
}

function union(a: Ranges, b: Ranges): Ranges {
  const pairs: [number, number][] = []
  for (let k = 0; k < a.length; k += 2) pairs.push([a[k], a[k + 1]])
  for (let k = 0; k < b.length; k += 2) pairs.push([b[k], b[k + 1]])
  pairs.sort((x, y) => x[0] - y[0])
  const out: Ranges = []
  for (const [lo, hi] of pairs) {
    const n = out.length
    if (n > 0 && lo <= out[n - 1] + 1) out[n - 1] = Math.max(out[n - 1], hi)
    else out.push(lo, hi)
  }
  return out
}

function complement(a: Ranges): Ranges {
  const out: Ranges = []
  let next = 0
  for (let k = 0; k < a.length; k += 2) {
    if (a[k] > next) out.push(next, a[k] - 1)
    next = a[k + 1] + 1
  }
  if (next <= MAX_CP) out.push(next, MAX_CP)
  return out
}

function disjoint(a: Ranges, b: Ranges): boolean {
  let x = 0
  let y = 0
  while (x < a.length && y < b.length) {
    if (a[x + 1] < b[y]) x += 2
    else if (b[y + 1] < a[x]) y += 2
    else return false
  }
  return true
}

function cpEscape(cp: number): string {
  // Letters, digits and '_' are never special in a JS pattern; keep them readable.
  if ((cp >= 0x30 && cp <= 0x39) || (cp >= 0x41 && cp <= 0x5a) || (cp >= 0x61 && cp <= 0x7a) || cp === 0x5f) {
    return String.fromCharCode(cp)
  }
  return '\\u{' + cp.toString(16) + '}'
}

function emitAtom(a: Atom): string {
  let cls: string
  if (a.set.length === 0) cls = '[]' // empty class: never matches, in both engines
  else if (a.set.length === 2 && a.set[0] === a.set[1]) cls = cpEscape(a.set[0])
  else {
    cls = '['
    for (let k = 0; k < a.set.length; k += 2) {
      cls += a.set[k] === a.set[k + 1] ? cpEscape(a.set[k]) : cpEscape(a.set[k]) + '-' + cpEscape(a.set[k + 1])
    }
    cls += ']'
  }
  let q = ''
  if (a.min === 0 && a.max === Infinity) q = '*'
  else if (a.min === 1 && a.max === Infinity) q = '+'
  else if (a.min === 0 && a.max === 1) q = '?'
  else if (a.min === a.max) q = a.min === 1 ? '' : `{${a.min}}`
  else q = a.max === Infinity ? `{${a.min},}` : `{${a.min},${a.max}}`
  return cls + q + (a.lazy && q !== '' ? '?' : '')
}
