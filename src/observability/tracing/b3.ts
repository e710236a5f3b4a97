import type { IncomingHttpHeaders } from 'node:http'
import { isHexId, normaliseHexId } from './ids'

/**
 * B3 propagation (https://github.com/openzipkin/b3-propagation), read the way Envoy's zipkin
 * `SpanContextExtractor` reads it, with two deliberate differences documented in ./README.md:
 * an invalid context starts a new trace instead of disabling tracing for the request, and an invalid single
 * `b3` header falls back to the multi headers (as Envoy's newer B3 propagator does) instead of being final.
 */

export const B3_TRACE_ID = 'x-b3-traceid'
export const B3_SPAN_ID = 'x-b3-spanid'
export const B3_PARENT_SPAN_ID = 'x-b3-parentspanid'
export const B3_SAMPLED = 'x-b3-sampled'
export const B3_FLAGS = 'x-b3-flags'
export const B3_SINGLE = 'b3'

/**
 * What the caller sent. One instance is reused by its owner for every request: extraction is synchronous, and
 * the hot path must not allocate a context object per request (the ProxySpan copies what it keeps).
 */
export class B3Extract {
  /** Lower-case, 16 or 32 hex; '' when the caller sent no valid context (the proxy starts a new trace). */
  traceId = ''
  /** The caller's span id, lower-case 16 hex; '' with traceId. */
  spanId = ''
  /** The caller's sampling decision; null when it made none and the proxy decides. */
  sampled: boolean | null = null
  /** `x-b3-flags: 1` or `b3: …-d…`: the caller asked for this trace to be recorded whatever the sampling rate. */
  debug = false
  /** The caller used the single `b3` header; the proxy answers upstream in both forms then. */
  single = false

  reset(): void {
    this.traceId = ''
    this.spanId = ''
    this.sampled = null
    this.debug = false
    this.single = false
  }
}

function first(v: string | string[] | undefined): string | undefined {
  // Node joins repeated custom headers with ", ", so an array only appears if a caller built the object by hand.
  return typeof v === 'string' ? v : v === undefined ? undefined : v[0]
}

/** Fills `out` from the request headers. Never throws: anything malformed is treated as absent. */
export function extractB3(headers: IncomingHttpHeaders, out: B3Extract): void {
  out.reset()
  const single = first(headers[B3_SINGLE])
  // The B3 spec gives the single header precedence; only when it cannot be parsed are the multi headers read.
  if (single !== undefined && single.length > 0 && parseSingle(single, out)) {
    out.single = true
    return
  }
  out.reset()
  parseMulti(headers, out)
}

function parseMulti(headers: IncomingHttpHeaders, out: B3Extract): void {
  const traceId = first(headers[B3_TRACE_ID])
  const spanId = first(headers[B3_SPAN_ID])
  if (traceId !== undefined && spanId !== undefined) {
    const t = normaliseHexId(traceId, 0)
    const s = normaliseHexId(spanId, 16)
    if (t !== '' && s !== '') {
      out.traceId = t
      out.spanId = s
    }
  }
  // The caller's own parent id names a span the proxy never reports, so it is not read (nor validated).

  // Flags are read even when the ids are unusable, as Envoy's `extractSampled` does: a caller's explicit
  // decision about this request is still meaningful for the new trace the proxy starts for it.
  const sampled = first(headers[B3_SAMPLED])
  if (sampled !== undefined) {
    // "true"/"false" come from old Zipkin tracers; Envoy accepts "true" too.
    if (sampled === '1' || sampled === 'true') out.sampled = true
    else if (sampled === '0' || sampled === 'false') out.sampled = false
  }
  if (first(headers[B3_FLAGS]) === '1') out.debug = true
}

function setSamplingChar(c: string, out: B3Extract): boolean {
  if (c === '1') out.sampled = true
  else if (c === '0') out.sampled = false
  else if (c === 'd') out.debug = true
  else return false
  return true
}

/** `{traceid}-{spanid}[-{sampled}[-{parentspanid}]]` or just `0` / `1` / `d`. Returns false if malformed. */
function parseSingle(v: string, out: B3Extract): boolean {
  if (v.length === 1) return setSamplingChar(v, out)

  const d1 = v.indexOf('-')
  if (d1 !== 16 && d1 !== 32) return false
  const traceId = normaliseHexId(v.slice(0, d1), 0)
  if (traceId === '') return false
  const spanEnd = d1 + 17
  if (v.length < spanEnd) return false
  const spanId = normaliseHexId(v.slice(d1 + 1, spanEnd), 16)
  if (spanId === '') return false

  if (v.length > spanEnd) {
    // After the span id: "-s" or "-s-parentspanid". The spec forbids a parent id without the sampling field.
    if (v.charCodeAt(spanEnd) !== 0x2d /* - */ || v.length < spanEnd + 2) return false
    if (!setSamplingChar(v[spanEnd + 1], out)) return false
    const rest = spanEnd + 2
    if (v.length > rest) {
      if (v.length !== rest + 17 || v.charCodeAt(rest) !== 0x2d) return false
      if (!isHexId(v.slice(rest + 1), 16)) return false
    }
  }
  out.traceId = traceId
  out.spanId = spanId
  return true
}

type OutgoingHeaders = Record<string, string | string[] | undefined>

function remove(headers: OutgoingHeaders, key: string): void {
  // Only delete what is there: deleting an absent key is harmless but still costs a hidden-class transition.
  if (headers[key] !== undefined) delete headers[key]
}

/**
 * Writes the proxy's context for the upstream, replacing whatever B3 the caller sent.
 *
 * Multi headers are always written (that is what Envoy sends, and what Istio's docs tell applications to copy).
 * `b3` is added only when the caller used it, so a single-header client keeps seeing its own format.
 * With debug, both `x-b3-flags: 1` and `x-b3-sampled: 1` are sent: the spec says debug implies sampled, but
 * applications that copy only `x-b3-sampled` would otherwise lose the decision.
 */
export function injectB3(
  headers: OutgoingHeaders,
  traceId: string,
  spanId: string,
  parentSpanId: string | null,
  sampled: boolean,
  debug: boolean,
  single: boolean,
): void {
  headers[B3_TRACE_ID] = traceId
  headers[B3_SPAN_ID] = spanId
  if (parentSpanId !== null) headers[B3_PARENT_SPAN_ID] = parentSpanId
  else remove(headers, B3_PARENT_SPAN_ID)
  headers[B3_SAMPLED] = sampled ? '1' : '0'
  if (debug) headers[B3_FLAGS] = '1'
  else remove(headers, B3_FLAGS)
  if (single) {
    const state = debug ? 'd' : sampled ? '1' : '0'
    headers[B3_SINGLE] =
      parentSpanId !== null ? `${traceId}-${spanId}-${state}-${parentSpanId}` : `${traceId}-${spanId}-${state}`
  } else {
    remove(headers, B3_SINGLE)
  }
}
