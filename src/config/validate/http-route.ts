// One `spec.http[i]` of a VirtualService (Istio's validateHTTPRoute and the CRD schema rules).
import { checkIntPercent, checkPercentage, field } from './common'
import { checkDestination, checkRouteDestinations, checkSourceAndPort } from './destinations'
import { checkHeaderName, checkPort, isDNS1123Label, isJwtClaimRoute } from './names'
import { child, item } from './path'
import { checkRE2 } from './regex'
import { required, type Report } from './report'
import { entries, has, list, num, obj, str, type Obj } from './values'

export interface HTTPRouteContext {
  /** The VirtualService has no hosts: it is a delegate, its routes may not delegate again. */
  delegate: boolean
}

export function checkHTTPRoute (route: Obj, path: string, report: Report, ctx: HTTPRouteContext): void {
  checkConflicts(route, path, report, ctx)
  list(route.match).forEach((m, i) => checkMatch(obj(m), item(child(path, 'match'), i), report))
  checkHeaderOperations(field(route, 'headers'), child(path, 'headers'), report)
  checkCors(field(route, 'corsPolicy'), child(path, 'corsPolicy'), report)
  checkFault(field(route, 'fault'), child(path, 'fault'), report)
  checkMirrors(route, path, report)
  checkRedirect(field(route, 'redirect'), child(path, 'redirect'), report)
  checkDirectResponse(field(route, 'directResponse'), child(path, 'directResponse'), report)
  checkRetries(field(route, 'retries'), child(path, 'retries'), report)
  checkRewrite(route, path, report)
  checkRouteDestinations(route.route, child(path, 'route'), report, (r, p) => {
    checkHeaderOperations(field(r, 'headers'), child(p, 'headers'), report)
  })
}

// A route does exactly one thing: forward (route), redirect, answer (directResponse), or hand
// over to a delegate VirtualService.
function checkConflicts (route: Obj, path: string, report: Report, ctx: HTTPRouteContext): void {
  const has2 = (k: string): boolean => has(route, k)
  const forwards = list(route.route).length > 0
  if (!ctx.delegate && has2('delegate')) {
    const name = str(route.name) ?? ''
    const what = name === '' ? 'root HTTP route' : `root HTTP route ${name}`
    if (has2('redirect')) report.error(child(path, 'redirect'), `${what} must not specify redirect`)
    if (has2('route')) report.error(child(path, 'route'), `${what} must not specify route`)
    return
  }
  if (ctx.delegate && has2('delegate')) report.error(child(path, 'delegate'), 'delegate HTTP route cannot contain delegate')
  if (has2('redirect')) {
    if (forwards) report.error(child(path, 'redirect'), 'HTTP route cannot contain both route and redirect')
    if (has2('fault')) report.error(child(path, 'fault'), 'HTTP route cannot contain both fault and redirect')
    if (has2('rewrite')) report.error(child(path, 'rewrite'), 'HTTP route rule cannot contain both rewrite and redirect')
    if (has2('directResponse')) report.error(child(path, 'directResponse'), 'HTTP route rule cannot contain both direct_response and redirect')
  } else if (has2('directResponse')) {
    if (forwards) report.error(child(path, 'directResponse'), 'HTTP route cannot contain both route and direct_response')
    if (has2('fault')) report.error(child(path, 'fault'), 'HTTP route cannot contain both fault and direct_response')
    if (has2('rewrite')) report.error(child(path, 'rewrite'), 'HTTP route rule cannot contain both rewrite and direct_response')
  } else if (!forwards) {
    report.error(child(path, 'route'), required('HTTP route, redirect or direct_response is required'))
  }
  if (has2('mirror') && list(route.mirrors).length > 0) report.error(child(path, 'mirrors'), 'HTTP route cannot contain both mirror and mirrors')
}

/** exact / prefix / regex: at most one; regexes are RE2; an empty prefix is meaningless except for `uri`. */
export function checkStringMatch (sm: Obj | undefined, path: string, report: Report, where: string, allowEmptyPrefix = false): void {
  if (sm === undefined) return
  const set = ['exact', 'prefix', 'regex'].filter(k => has(sm, k))
  if (set.length > 1) report.error(path, `only one of exact, prefix or regex may be set (found ${set.join(', ')})`)
  const prefix = str(sm.prefix)
  if (prefix === '' && !allowEmptyPrefix) report.error(child(path, 'prefix'), `"${where}": prefix string match should not be empty`)
  const regex = str(sm.regex)
  if (regex !== undefined) {
    const err = regex === '' ? `"${where}": regex string match should not be empty` : checkRE2(regex, where)
    if (err !== undefined) report.error(child(path, 'regex'), err)
  }
}

function checkMatch (m: Obj | undefined, path: string, report: Report): void {
  if (m === undefined) return
  for (const key of ['headers', 'withoutHeaders'] as const) {
    for (const [name, raw] of Object.entries(obj(m[key]) ?? {})) {
      const p = child(child(path, key), name)
      const nameErr = isJwtClaimRoute(name) ? undefined : checkHeaderName(name)
      if (nameErr !== undefined) report.error(p, nameErr)
      const sm = obj(raw)
      // `regex: "*"` under withoutHeaders is Istio's spelling of "header absent", not an RE2 pattern.
      if (key === 'withoutHeaders' && str(sm?.regex) === '*') continue
      checkStringMatch(sm, p, report, key)
    }
  }
  // Envoy allows an empty path prefix (match everything) but not an empty scheme/method/authority prefix.
  checkStringMatch(obj(m.uri), child(path, 'uri'), report, 'uri', true)
  for (const key of ['scheme', 'method', 'authority'] as const) checkStringMatch(obj(m[key]), child(path, key), report, key)
  for (const [name, raw] of Object.entries(obj(m.queryParams) ?? {})) {
    checkStringMatch(obj(raw), child(child(path, 'queryParams'), name), report, 'queryParams')
  }
  checkSourceAndPort(m, path, report)
  const ns = str(m.sourceNamespace)
  if (ns !== undefined && ns !== '' && !isDNS1123Label(ns)) report.error(child(path, 'sourceNamespace'), `sourceNamespace match ${ns} is invalid`)
}

// Header values may not carry control characters (Envoy rejects them when the route is loaded).
// eslint-disable-next-line no-control-regex
const BAD_HEADER_VALUE = /[\u0000-\u0008\u000A-\u001F\u007F]/

/** `headers.request` / `headers.response` set, add and remove. */
export function checkHeaderOperations (headers: Obj | undefined, path: string, report: Report): void {
  if (headers === undefined) return
  for (const side of ['request', 'response'] as const) {
    const ops = field(headers, side)
    if (ops === undefined) continue
    const sidePath = child(path, side)
    for (const op of ['set', 'add'] as const) {
      for (const [name, value] of entries(ops[op], str)) {
        const p = child(child(sidePath, op), name)
        // The request side may rewrite :authority / host (that is how authority rewrites are spelled).
        const err = side === 'request' ? checkAddableHeader(name) : checkRemovableHeader(name)
        if (err !== undefined) report.error(p, err)
        if (BAD_HEADER_VALUE.test(value)) report.error(p, `header value configuration ${JSON.stringify(value)} is invalid`)
      }
    }
    list(ops.remove).forEach((raw, i) => {
      const name = str(raw)
      if (name === undefined) return
      const err = checkRemovableHeader(name)
      if (err !== undefined) report.error(item(child(sidePath, 'remove'), i), err)
    })
  }
}

function isAuthorityHeader (name: string): boolean {
  const n = name.toLowerCase()
  return n === ':authority' || n === 'host'
}

function checkAddableHeader (name: string): string | undefined {
  if (name === '') return 'header name cannot be empty'
  if ((name.startsWith(':') || name.toLowerCase() === 'host') && !isAuthorityHeader(name)) return `invalid header "${name}": header cannot have ":" prefix`
  return undefined
}

function checkRemovableHeader (name: string): string | undefined {
  if (name === '') return 'header name cannot be empty'
  if (name.toLowerCase() === 'host') return `invalid header "${name}": cannot set Host header`
  if (name.startsWith(':')) return `invalid header "${name}": header cannot have ":" prefix`
  return undefined
}

const CORS_METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'CONNECT', 'OPTIONS', 'TRACE'])

function checkCors (cors: Obj | undefined, path: string, report: Report): void {
  if (cors === undefined) return
  list(cors.allowOrigins).forEach((raw, i) => {
    const p = item(child(path, 'allowOrigins'), i)
    const sm = obj(raw)
    const value = str(sm?.exact) ?? str(sm?.prefix) ?? str(sm?.regex) ?? ''
    if (value === '') report.error(p, `'${value}' is not a valid match type for CORS allow origins`)
    else checkStringMatch(sm, p, report, 'corsPolicy.allowOrigins')
  })
  list(cors.allowMethods).forEach((raw, i) => {
    const m = str(raw)
    if (m !== undefined && !CORS_METHODS.has(m)) report.error(item(child(path, 'allowMethods'), i), `"${m}" is not a supported HTTP method`)
  })
  for (const key of ['allowHeaders', 'exposeHeaders'] as const) {
    list(cors[key]).forEach((raw, i) => {
      const h = str(raw)
      const err = h === undefined || h === '*' ? undefined : checkHeaderName(h)
      if (err !== undefined) report.error(item(child(path, key), i), err)
    })
  }
  const maxAge = str(cors.maxAge)
  // Access-Control-Max-Age is whole seconds.
  if (maxAge !== undefined && /\d(ms|us|µs|ns)$/.test(maxAge)) report.error(child(path, 'maxAge'), 'max_age duration is accurate only to seconds precision')
}

const GRPC_STATUS = new Set([
  'OK', 'CANCELLED', 'UNKNOWN', 'INVALID_ARGUMENT', 'DEADLINE_EXCEEDED', 'NOT_FOUND', 'ALREADY_EXISTS',
  'PERMISSION_DENIED', 'RESOURCE_EXHAUSTED', 'FAILED_PRECONDITION', 'ABORTED', 'OUT_OF_RANGE', 'UNIMPLEMENTED',
  'INTERNAL', 'UNAVAILABLE', 'DATA_LOSS', 'UNAUTHENTICATED'
])

/** Envoy accepts local reply / abort statuses in [200, 600). */
function checkHTTPStatus (status: number): string | undefined {
  return status >= 200 && status <= 599 ? undefined : `HTTP status ${status} is not in range 200-599`
}

function checkFault (fault: Obj | undefined, path: string, report: Report): void {
  if (fault === undefined) return
  const abort = field(fault, 'abort')
  const delay = field(fault, 'delay')
  if (abort === undefined && delay === undefined) report.error(path, 'HTTP fault injection must have an abort and/or a delay')
  if (abort !== undefined) {
    const p = child(path, 'abort')
    checkPercentage(field(abort, 'percentage'), child(p, 'percentage'), report)
    const kinds = ['httpStatus', 'grpcStatus', 'http2Error'].filter(k => has(abort, k))
    if (kinds.length > 1) report.error(p, `only one of httpStatus, grpcStatus or http2Error may be set (found ${kinds.join(', ')})`)
    const http = num(abort.httpStatus)
    const grpc = str(abort.grpcStatus)
    if (http !== undefined) {
      const err = checkHTTPStatus(http)
      if (err !== undefined) report.error(child(p, 'httpStatus'), err)
    } else if (grpc !== undefined) {
      if (!GRPC_STATUS.has(grpc)) report.error(child(p, 'grpcStatus'), `gRPC status "${grpc}" is not supported. See https://github.com/grpc/grpc/blob/master/doc/statuscodes.md for a list of supported codes, for example 'NOT_FOUND'`)
    } else if (has(abort, 'http2Error')) {
      report.error(child(p, 'http2Error'), 'HTTP/2 abort fault injection not supported yet')
    } else {
      report.warn(p, 'abort configured, but error type not set')
    }
  }
  if (delay !== undefined) {
    const p = child(path, 'delay')
    checkPercentage(field(delay, 'percentage'), child(p, 'percentage'), report)
    checkIntPercent(num(delay.percent), child(p, 'percent'), report)
    if (has(delay, 'fixedDelay') && has(delay, 'exponentialDelay')) report.error(p, 'only one of fixedDelay or exponentialDelay may be set')
    if (has(delay, 'exponentialDelay')) report.error(child(p, 'exponentialDelay'), 'exponentialDelay not supported yet')
  }
}

function checkMirrors (route: Obj, path: string, report: Report): void {
  const legacy = num(route.mirrorPercent) ?? num(route.mirror_percent)
  if (legacy !== undefined) {
    const key = has(route, 'mirrorPercent') ? 'mirrorPercent' : 'mirror_percent'
    if (legacy > 100) report.error(child(path, key), `mirror_percent must have a max value of 100 (it has ${legacy})`)
    report.warn(child(path, key), 'using deprecated setting "mirrorPercent", use "mirrorPercentage" instead')
  }
  checkMirrorPercentage(field(route, 'mirrorPercentage'), child(path, 'mirrorPercentage'), report)
  checkDestination(field(route, 'mirror'), child(path, 'mirror'), report)
  list(route.mirrors).forEach((raw, i) => {
    const p = item(child(path, 'mirrors'), i)
    const m = obj(raw)
    if (m === undefined) {
      report.error(p, 'mirror cannot be null')
      return
    }
    const dest = field(m, 'destination')
    if (dest === undefined) report.error(child(p, 'destination'), required('destination is required for mirrors'))
    else checkDestination(dest, child(p, 'destination'), report)
    checkMirrorPercentage(field(m, 'percentage'), child(p, 'percentage'), report)
  })
}

function checkMirrorPercentage (p: Obj | undefined, path: string, report: Report): void {
  const v = num(p?.value)
  if (v === undefined) return
  if (v > 100) report.error(child(path, 'value'), `mirror_percentage must have a max value of 100 (it has ${v})`)
  if (v < 0) report.error(child(path, 'value'), `mirror_percentage must have a min value of 0 (it has ${v})`)
}

/** The redirect codes Envoy's RedirectAction has; Istio turns any other 3xx into 301. */
const ENVOY_REDIRECT_CODES = new Set([301, 302, 303, 307, 308])

function checkRedirect (redirect: Obj | undefined, path: string, report: Report): void {
  if (redirect === undefined) return
  if (!['uri', 'authority', 'port', 'derivePort', 'scheme'].some(k => has(redirect, k) && redirect[k] !== '')) {
    report.error(path, 'redirect must specify URI, authority, scheme, or port')
  }
  if (has(redirect, 'port') && has(redirect, 'derivePort')) report.error(path, 'only one of port or derivePort may be set')
  const code = num(redirect.redirectCode)
  if (code !== undefined && code !== 0) {
    if (code < 300 || code > 399) report.error(child(path, 'redirectCode'), `${code} is not a valid redirect code, must be 3xx`)
    else if (!ENVOY_REDIRECT_CODES.has(code)) report.warn(child(path, 'redirectCode'), `redirect code ${code} is not one of 301, 302, 303, 307, 308; it is sent as 301`)
  }
  const scheme = str(redirect.scheme)
  if (scheme !== undefined && scheme !== '' && scheme !== 'http' && scheme !== 'https') {
    report.error(child(path, 'scheme'), 'invalid redirect scheme, must be "http" or "https"')
  }
  const port = num(redirect.port)
  if (port !== undefined && port > 0) {
    const err = checkPort(port)
    if (err !== undefined) report.error(child(path, 'port'), err)
  }
}

const KB = 1024
const MB = 1024 * KB

function checkDirectResponse (dr: Obj | undefined, path: string, report: Report): void {
  if (dr === undefined) return
  const status = num(dr.status)
  if (status === undefined) {
    if (!has(dr, 'status')) report.error(child(path, 'status'), required())
  } else {
    const err = checkHTTPStatus(status)
    if (err !== undefined) report.error(child(path, 'status'), err)
  }
  const body = field(dr, 'body')
  if (body === undefined) return
  if (has(body, 'string') && has(body, 'bytes')) report.error(child(path, 'body'), 'only one of string or bytes may be set')
  const text = str(body.string)
  const bytes = str(body.bytes)
  const size = text !== undefined ? Buffer.byteLength(text) : bytes !== undefined ? Buffer.from(bytes, 'base64').length : 0
  // istiod pushes the body inside every route table, so very large bodies are refused.
  if (size > MB) report.error(child(path, 'body'), 'large direct_responses may impact control plane performance, must be less than 1MB')
  else if (size > 100 * KB) report.warn(child(path, 'body'), 'large direct_responses may impact control plane performance')
}

const RETRY_ON = new Set([
  '5xx', 'gateway-error', 'reset', 'reset-before-request', 'connect-failure', 'retriable-4xx', 'refused-stream',
  'retriable-status-codes', 'retriable-headers', 'envoy-ratelimited', 'http3-post-connect-failure',
  'cancelled', 'deadline-exceeded', 'internal', 'resource-exhausted', 'unavailable'
])

/** Status codes Go's net/http names (Istio accepts a bare integer in retryOn when http.StatusText knows it). */
const KNOWN_STATUS = new Set([
  100, 101, 102, 103, 200, 201, 202, 203, 204, 205, 206, 207, 208, 226, 300, 301, 302, 303, 304, 305, 307, 308,
  400, 401, 402, 403, 404, 405, 406, 407, 408, 409, 410, 411, 412, 413, 414, 415, 416, 417, 418, 421, 422, 423,
  424, 425, 426, 428, 429, 431, 451, 500, 501, 502, 503, 504, 505, 506, 507, 508, 510, 511
])

function checkRetries (retries: Obj | undefined, path: string, report: Report): void {
  if (retries === undefined) return
  const attempts = num(retries.attempts) ?? 0
  if (attempts < 0) report.error(child(path, 'attempts'), 'attempts cannot be negative')
  if (attempts === 0 && (has(retries, 'perTryTimeout') || nonEmptyString(retries.retryOn) || has(retries, 'retryRemoteLocalities'))) {
    report.error(child(path, 'attempts'), 'http retry policy configured when attempts are set to 0 (disabled)')
  }
  const retryOn = str(retries.retryOn)
  if (retryOn !== undefined && retryOn !== '') {
    for (const policy of retryOn.split(',')) {
      const code = /^\d+$/.test(policy) ? Number(policy) : NaN
      if (!RETRY_ON.has(policy) && !KNOWN_STATUS.has(code)) report.error(child(path, 'retryOn'), `"${policy}" is not a valid retryOn policy`)
    }
  }
}

function nonEmptyString (v: unknown): boolean {
  return typeof v === 'string' && v !== ''
}

function checkRewrite (route: Obj, path: string, report: Report): void {
  const rewrite = field(route, 'rewrite')
  const p = child(path, 'rewrite')
  if (rewrite !== undefined) {
    const uri = str(rewrite.uri) ?? ''
    const regexRewrite = field(rewrite, 'uriRegexRewrite')
    if (uri !== '' && regexRewrite !== undefined) report.error(p, 'rewrite may only contain one of URI or UriRegexRewrite')
    if (uri === '' && regexRewrite === undefined && (str(rewrite.authority) ?? '') === '') {
      report.error(p, 'rewrite must specify at least one of URI, UriRegexRewrite, or authority. Only one of URI or UriRegexRewrite may be specified')
    }
    if (regexRewrite !== undefined) {
      const rp = child(p, 'uriRegexRewrite')
      const match = str(regexRewrite.match) ?? ''
      if (match === '' || (str(regexRewrite.rewrite) ?? '') === '') {
        report.error(rp, 'UriRegexRewrite requires both Rewrite and Match fields to be specified')
      } else {
        const err = checkRE2(match, 'HTTPRewrite.UriRegexRewrite.Match')
        if (err !== undefined) report.error(child(rp, 'match'), err)
      }
    }
  }
  // The authority can be rewritten in one place only: rewrite.authority or a request header set/add.
  let current = str(rewrite?.authority) ?? ''
  const request = field(field(route, 'headers'), 'request')
  for (const op of ['set', 'add'] as const) {
    for (const [k, v] of entries(request?.[op], str)) {
      if (!isAuthorityHeader(k)) continue
      if (current !== '') {
        report.error(child(child(child(child(path, 'headers'), 'request'), op), k), `authority header cannot be set multiple times: have "${current}", attempting to set "${v}"`)
      }
      current = v
    }
  }
}
