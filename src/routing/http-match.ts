// One Istio HTTPMatchRequest -> the run-time conditions Envoy evaluates for one route
// (Istio route.go TranslateRouteMatch; Envoy RouteEntryImplBase::matchRoute, HeaderUtility,
// ConfigUtility::QueryParameterMatcher), plus the compile-time conditions Istio uses to drop a
// match block before Envoy ever sees it (route.go TranslateRoute / sourceMatchHTTP).
import type { IncomingHttpHeaders } from 'node:http'
import type { HTTPMatchRequest, StringMatch } from '../config/types'
import { compileRegex } from './regex'
import {
  compileStringMatcher,
  ExactIgnoreCaseMatcher,
  ExactMatcher,
  isPresentMatch,
  PrefixIgnoreCaseMatcher,
  PrefixMatcher,
  PRESENT,
  RegexMatcher,
  type StringMatcher,
} from './string-matcher'

/**
 * What route matching reads from a request. Build it once per request with every field assigned
 * (queryMap: undefined) so all views share one hidden class.
 */
export interface RequestView {
  method: string
  /** :path as received, query included. Origin-form: absolute-form URLs must be split first. */
  path: string
  /** :path without `?query` (and without any `#fragment`), what uri conditions see. */
  pathOnly: string
  /** Raw query string without '?', not decoded; '' when there is none. */
  query: string
  authority: string
  scheme: string
  /**
   * Lowercase names. A header sent several times should be a string[]: we join the values with
   * ',' as Envoy does (HeaderUtility::getAllOfHeaderAsString). Node's `req.headers` already joins
   * most duplicates with ', ' (and keeps only the first Host, User-Agent, Authorization, ...), so
   * for Envoy-exact matching build this from `req.headersDistinct` or `headersFromRaw` below.
   */
  headers: IncomingHttpHeaders
  /** Parsed query, filled by the first query condition that needs it (see `queryParams`). */
  queryMap?: ReadonlyMap<string, string>
}

/** A compiled match block. An interface so callers may compose them (e.g. delegate AND root). */
export interface HttpMatch {
  matches(req: RequestView): boolean
}

// ---------------------------------------------------------------- request helpers

const EMPTY_QUERY: ReadonlyMap<string, string> = new Map()

/**
 * The request's query parameters, parsed once and cached on the view.
 *
 * As Envoy's route matcher (QueryParamsMulti::parseQueryString, NOT parseAndDecodeQueryString):
 * split on '&', name and value split at the first '=', a bare `key` has value '', values are
 * NOT percent-decoded (so `?q=a%20b` matches `exact: "a%20b"`, not `"a b"`), and only the
 * first occurrence of a name counts (QueryParameterMatcher uses getFirstValue).
 */
export function queryParams(req: RequestView): ReadonlyMap<string, string> {
  let map = req.queryMap
  if (map === undefined) {
    map = req.query === '' ? EMPTY_QUERY : parseQuery(req.query)
    req.queryMap = map
  }
  return map
}

export function parseQuery(query: string): Map<string, string> {
  const map = new Map<string, string>()
  let start = 0
  // Envoy's loop runs while start < size, so a trailing '&' adds nothing but 'a&&b' adds ''.
  while (start < query.length) {
    let end = query.indexOf('&', start)
    if (end === -1) end = query.length
    const eq = query.indexOf('=', start)
    let name: string
    let value: string
    if (eq !== -1 && eq < end) {
      name = query.slice(start, eq)
      value = query.slice(eq + 1, end)
    } else {
      name = query.slice(start, end)
      value = ''
    }
    if (!map.has(name)) map.set(name, value)
    start = end + 1
  }
  return map
}

/**
 * Headers as Envoy sees them, from Node's `req.rawHeaders`: names lowercased, a name sent once
 * is a string, a name sent several times a string[] in arrival order. Host is left in place.
 */
export function headersFromRaw(raw: readonly string[]): IncomingHttpHeaders {
  const out: Record<string, string | string[]> = {}
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = raw[i].toLowerCase()
    const prev = out[name]
    if (prev === undefined) out[name] = raw[i + 1]
    else if (typeof prev === 'string') out[name] = [prev, raw[i + 1]]
    else prev.push(raw[i + 1])
  }
  return out
}

// ---------------------------------------------------------------- conditions

// Where a header condition reads its value. Plain numbers rather than a `const enum`, which
// transpile-only loaders (tap's) do not inline across files.
const Source = { Header: 0, Method: 1, Authority: 2, Scheme: 3, Path: 4 } as const
type Source = (typeof Source)[keyof typeof Source]

/**
 * One Envoy HeaderMatcher, evaluated exactly as HeaderUtility::matchHeaders:
 * - header missing and not treat_missing_header_as_empty: the result is `invert && present_match`
 *   (a missing header fails every positive condition; inverted, only "absent" succeeds);
 * - otherwise the value ('' if missing) goes through the matcher and `invert` flips the result.
 * Istio's withoutHeaders sets invert and, except for present matches, treat_missing_as_empty;
 * so `withoutHeaders: {x: {exact: v}}` applies to a request without `x` -- but
 * `withoutHeaders: {x: {exact: ""}}` (or `prefix: ""`, or a regex matching '') does NOT, because
 * the missing header is read as '' and '' matches.
 */
class HeaderCondition {
  constructor(
    readonly name: string,
    private readonly source: Source,
    private readonly matcher: StringMatcher,
    private readonly invert: boolean,
    private readonly treatMissingAsEmpty: boolean,
    private readonly presentMatch: boolean,
  ) {}

  test(req: RequestView): boolean {
    let value: string | undefined
    switch (this.source) {
      case Source.Header:
        value = headerValue(req.headers, this.name)
        break
      case Source.Method:
        value = req.method
        break
      case Source.Authority:
        value = req.authority
        break
      case Source.Scheme:
        value = req.scheme
        break
      case Source.Path:
        value = req.path
        break
    }
    if (value === undefined) {
      if (!this.treatMissingAsEmpty) return this.invert && this.presentMatch
      value = ''
    }
    return this.matcher.match(value) !== this.invert
  }
}

function headerValue(headers: IncomingHttpHeaders, name: string): string | undefined {
  const v = headers[name]
  if (v === undefined || typeof v === 'string') return v
  // Several values: Envoy matches against them joined by ','. This allocates, but only for the
  // rare request that repeats a header a route actually matches on.
  return v.length === 0 ? undefined : v.length === 1 ? v[0] : v.join(',')
}

/**
 * `@request.auth.claims...` names are JWT claim matches: Istio turns them into dynamic metadata
 * matchers fed by Envoy's jwt_authn filter. Ferry has no JWT filter, so the metadata is never
 * there: the condition fails, and (Envoy MetadataMatcher `invert`) succeeds under withoutHeaders.
 */
class ClaimCondition {
  constructor(
    readonly name: string,
    private readonly invert: boolean,
  ) {}
  test(_req: RequestView): boolean {
    return this.invert
  }
}

type Condition = HeaderCondition | ClaimCondition

class QueryCondition {
  constructor(
    readonly name: string,
    /** null: present_match. */
    private readonly matcher: StringMatcher | null,
  ) {}

  test(req: RequestView): boolean {
    const value = queryParams(req).get(this.name)
    if (value === undefined) return false
    return this.matcher === null || this.matcher.match(value)
  }
}

/** Istio always emits a path specifier; with no `uri` it is `prefix: "/"`. */
const SLASH_PREFIX: StringMatcher = new PrefixMatcher('/')

class CompiledHttpMatch implements HttpMatch {
  constructor(
    readonly uri: StringMatcher,
    readonly conditions: readonly Condition[] | null,
    readonly query: readonly QueryCondition[] | null,
  ) {}

  matches(req: RequestView): boolean {
    if (!this.uri.match(req.pathOnly)) return false
    const conditions = this.conditions
    if (conditions !== null) {
      for (let i = 0; i < conditions.length; i++) if (!conditions[i].test(req)) return false
    }
    const query = this.query
    if (query !== null) {
      for (let i = 0; i < query.length; i++) if (!query[i].test(req)) return false
    }
    return true
  }
}

/**
 * Compile the run-time part of one match block. Conditions AND together; `{}` matches any
 * request whose path starts with '/' (Istio's implicit `prefix: "/"`, so Envoy -- and Ferry --
 * answer `OPTIONS *` with no route). Compile-time fields (port, sourceLabels, sourceNamespace,
 * gateways) are ignored here: see `staticMatch`.
 * Throws SyntaxError on a regex RE2 rejects; the loader's validation reports those first.
 */
export function compileHttpMatch(m: HTTPMatchRequest): HttpMatch {
  const conditions: Condition[] = []
  if (m.method !== undefined) conditions.push(pseudo(Source.Method, ':method', m.method))
  if (m.authority !== undefined) conditions.push(pseudo(Source.Authority, ':authority', m.authority))
  if (m.scheme !== undefined) conditions.push(pseudo(Source.Scheme, ':scheme', m.scheme))
  // Istio sorts header matchers by name; order cannot change an AND, so we keep YAML order.
  for (const [name, sm] of Object.entries(m.headers ?? {})) conditions.push(header(name, sm, false))
  for (const [name, sm] of Object.entries(m.withoutHeaders ?? {})) conditions.push(header(name, sm, true))

  const query: QueryCondition[] = []
  for (const [name, sm] of Object.entries(m.queryParams ?? {})) {
    query.push(new QueryCondition(name, isPresentMatch(sm) ? null : compileStringMatcher(sm)))
  }

  return new CompiledHttpMatch(
    compileUri(m.uri, m.ignoreUriCase === true),
    conditions.length === 0 ? null : conditions,
    query.length === 0 ? null : query,
  )
}

/** Every block of a route must hold: used for a delegate's routes under the root's block. */
export function allOf(a: HttpMatch, b: HttpMatch): HttpMatch {
  return new AllOf(a, b)
}

class AllOf implements HttpMatch {
  constructor(
    private readonly a: HttpMatch,
    private readonly b: HttpMatch,
  ) {}
  matches(req: RequestView): boolean {
    return this.a.matches(req) && this.b.matches(req)
  }
}

function compileUri(uri: StringMatch | undefined, ignoreCase: boolean): StringMatcher {
  if (uri === undefined) return SLASH_PREFIX
  if (uri.exact !== undefined) return ignoreCase ? new ExactIgnoreCaseMatcher(uri.exact) : new ExactMatcher(uri.exact)
  if (uri.prefix !== undefined) {
    if (uri.prefix === '') return PRESENT // Envoy prefix "" matches every path
    return ignoreCase ? new PrefixIgnoreCaseMatcher(uri.prefix) : new PrefixMatcher(uri.prefix)
  }
  // safe_regex: Envoy ignores case_sensitive for it. No present-match shortcut for `*` here:
  // Istio passes uri regexes straight to Envoy, which rejects `*`.
  if (uri.regex !== undefined) return new RegexMatcher(compileRegex(uri.regex))
  return SLASH_PREFIX // uri: {} -- Istio leaves the default prefix "/"
}

function pseudo(source: Source, name: string, sm: StringMatch): HeaderCondition {
  const present = isPresentMatch(sm)
  return new HeaderCondition(name, source, present ? PRESENT : compileStringMatcher(sm), false, false, present)
}

function header(rawName: string, sm: StringMatch, invert: boolean): Condition {
  const name = rawName.toLowerCase() // Envoy LowerCaseString
  if (name.startsWith('@request.auth.claims.') || name.startsWith('@request.auth.claims[')) {
    return new ClaimCondition(name, invert)
  }
  const present = isPresentMatch(sm)
  let source: Source = Source.Header
  if (name === ':method') source = Source.Method
  else if (name === ':authority') source = Source.Authority
  else if (name === ':scheme') source = Source.Scheme
  else if (name === ':path') source = Source.Path
  // route.go: withoutHeaders sets treat_missing_header_as_empty unless it is a present match.
  const treatMissingAsEmpty = invert && !present
  return new HeaderCondition(name, source, present ? PRESENT : compileStringMatcher(sm), invert, treatMissingAsEmpty, present)
}

// ---------------------------------------------------------------- route selection

/**
 * The first route whose match list accepts the request (Envoy: routes in order, first match
 * wins). A route with `matches` null or empty matches everything; its blocks are OR'ed.
 */
export function firstMatch<T extends { matches: readonly HttpMatch[] | null }>(routes: readonly T[], req: RequestView): T | null {
  for (let i = 0; i < routes.length; i++) {
    const route = routes[i]
    const ms = route.matches
    if (ms === null || ms.length === 0) return route
    for (let j = 0; j < ms.length; j++) if (ms[j].matches(req)) return route
  }
  return null
}

/**
 * The first of a virtual host's compiled routes that matches. The compiler emits one entry per
 * match block (as Istio emits one Envoy route per block), so each has a single match or none.
 */
export function firstRoute<T extends { readonly match: HttpMatch | null }>(routes: readonly T[], req: RequestView): T | null {
  for (let i = 0; i < routes.length; i++) {
    const m = routes[i].match
    if (m === null || m.matches(req)) return routes[i]
  }
  return null
}

// ---------------------------------------------------------------- compile-time conditions

export interface StaticMatchContext {
  /** Listener port; null when unknown, which (like Istio's listenPort 0) fails any `port` condition. */
  port: number | null
  proxyLabels: Record<string, string>
  proxyNamespace: string
  /** 'mesh' for a sidecar, else the gateway as 'ns/name'. */
  gateway: string
  vsNamespace: string
  /** The VirtualService's top-level gateways as written; [] means ['mesh']. */
  vsGateways: string[]
}

/**
 * Whether match block `m` can ever apply on this listener; false means drop it at compile time.
 *
 * Istio, in order: the VirtualService must be bound to the gateway at top level (it is only
 * selected for gateways in `spec.gateways`, default `mesh`); `port`, when set, must equal the
 * listener port (TranslateRoute); then sourceMatchHTTP: if the block lists `gateways`, those
 * replace the top-level list and sourceLabels/sourceNamespace are NOT checked at all; otherwise
 * sourceLabels must be a subset of the proxy's labels and sourceNamespace, when set, equal the
 * proxy's namespace. So match-level gateways can narrow the top-level binding but not widen it.
 */
export function staticMatch(m: HTTPMatchRequest, ctx: StaticMatchContext): boolean {
  const top = ctx.vsGateways.length === 0 ? ['mesh'] : ctx.vsGateways
  if (!gatewayListed(top, ctx.gateway, ctx.vsNamespace)) return false
  if (m.port !== undefined && m.port !== 0 && m.port !== ctx.port) return false
  if (m.gateways !== undefined && m.gateways.length > 0) return gatewayListed(m.gateways, ctx.gateway, ctx.vsNamespace)
  for (const [k, v] of Object.entries(m.sourceLabels ?? {})) {
    if (ctx.proxyLabels[k] !== v) return false
  }
  return m.sourceNamespace === undefined || m.sourceNamespace === '' || m.sourceNamespace === ctx.proxyNamespace
}

function gatewayListed(list: readonly string[], gateway: string, vsNamespace: string): boolean {
  for (const g of list) if (resolveGatewayName(g, vsNamespace) === gateway) return true
  return false
}

/**
 * Istio's resolveGatewayName: 'mesh' stays; `ns/name` stays; `./name` and a short `name` are in
 * the VirtualService's namespace; a legacy FQDN `name.ns.svc.cluster.local` (or `name.ns`)
 * becomes `ns/name`.
 */
export function resolveGatewayName(name: string, vsNamespace: string): string {
  if (name === 'mesh') return name
  const slash = name.indexOf('/')
  if (slash !== -1) return name.slice(0, slash) === '.' ? `${vsNamespace}/${name.slice(slash + 1)}` : name
  const dot = name.indexOf('.')
  if (dot === -1) return `${vsNamespace}/${name}`
  const rest = name.slice(dot + 1)
  const dot2 = rest.indexOf('.')
  return `${dot2 === -1 ? rest : rest.slice(0, dot2)}/${name.slice(0, dot)}`
}
