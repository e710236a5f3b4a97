import t from 'tap'
import type { IncomingHttpHeaders } from 'node:http'
import type { HTTPMatchRequest } from '../../../src/config/types'
import {
  allOf,
  compileHttpMatch,
  firstMatch,
  headersFromRaw,
  parseQuery,
  queryParams,
  resolveGatewayName,
  staticMatch,
  type HttpMatch,
  type RequestView,
  type StaticMatchContext,
} from '../../../src/routing/http-match'

function req(path: string, opts: { method?: string; authority?: string; scheme?: string; headers?: IncomingHttpHeaders } = {}): RequestView {
  const q = path.indexOf('?')
  return {
    method: opts.method ?? 'GET',
    path,
    pathOnly: q === -1 ? path : path.slice(0, q),
    query: q === -1 ? '' : path.slice(q + 1),
    authority: opts.authority ?? 'reviews:9080',
    scheme: opts.scheme ?? 'http',
    headers: opts.headers ?? {},
    queryMap: undefined,
  }
}

const match = (m: HTTPMatchRequest, r: RequestView): boolean => compileHttpMatch(m).matches(r)

t.test('empty block matches every origin-form path', async t => {
  t.ok(match({}, req('/')))
  t.ok(match({}, req('/anything?x=1', { method: 'DELETE' })))
  t.notOk(match({}, req('*', { method: 'OPTIONS' })), "Istio's implicit prefix '/' (Envoy: NR for OPTIONS *)")
  t.ok(match({ uri: {} }, req('/x')), 'uri: {} keeps the default prefix')
})

t.test('uri', async t => {
  t.ok(match({ uri: { exact: '/productpage' } }, req('/productpage?u=normal')), 'exact ignores the query')
  t.notOk(match({ uri: { exact: '/productpage' } }, req('/productpage/')))
  t.ok(match({ uri: { prefix: '/api' } }, req('/apis')), 'plain prefix')
  t.notOk(match({ uri: { prefix: '/api' } }, req('/Api')))
  t.ok(match({ uri: { prefix: '' } }, req('*')), 'empty prefix matches everything')
  t.ok(match({ uri: { regex: '/api/v[0-9]+/.*' } }, req('/api/v2/x?y=1')), 'regex sees the path without query')
  t.notOk(match({ uri: { regex: '/api/v[0-9]+' } }, req('/api/v2/x')), 'regex is a full match')
  t.notOk(match({ uri: { regex: '/api/v[0-9]+.*' } }, req('/x/api/v2')))
  t.throws(() => compileHttpMatch({ uri: { regex: '*' } }), SyntaxError, 'uri regex "*" is not a present match')
})

t.test('ignoreUriCase', async t => {
  t.ok(match({ uri: { exact: '/Login' }, ignoreUriCase: true }, req('/LOGIN')))
  t.ok(match({ uri: { prefix: '/API/' }, ignoreUriCase: true }, req('/api/v1')))
  t.notOk(match({ uri: { exact: '/Login' } }, req('/LOGIN')))
  t.notOk(match({ uri: { regex: '/login' }, ignoreUriCase: true }, req('/LOGIN')), 'Envoy ignores case_sensitive for regex')
  t.notOk(match({ uri: { prefix: '/api' }, ignoreUriCase: true, headers: { 'x-a': { exact: 'v' } } }, req('/API', { headers: { 'x-a': 'V' } })), 'headers stay case-sensitive')
})

t.test('method, authority, scheme', async t => {
  t.ok(match({ method: { exact: 'GET' } }, req('/')))
  t.notOk(match({ method: { exact: 'get' } }, req('/')), 'case-sensitive')
  t.ok(match({ method: { regex: 'GET|HEAD' } }, req('/', { method: 'HEAD' })))
  t.ok(match({ authority: { exact: 'reviews:9080' } }, req('/')))
  t.notOk(match({ authority: { exact: 'reviews' } }, req('/')), ':authority includes the port as sent')
  t.ok(match({ authority: { prefix: 'reviews' } }, req('/')))
  t.ok(match({ authority: { regex: '*' } }, req('/')), 'regex "*" is present_match')
  t.ok(match({ scheme: { exact: 'https' } }, req('/', { scheme: 'https' })))
  t.notOk(match({ scheme: { exact: 'https' } }, req('/')))
})

t.test('headers', async t => {
  const m = { headers: { 'end-user': { exact: 'jason' } } }
  t.ok(match(m, req('/', { headers: { 'end-user': 'jason' } })))
  t.notOk(match(m, req('/', { headers: { 'end-user': 'Jason' } })))
  t.notOk(match(m, req('/')), 'missing header fails')
  t.ok(match({ headers: { 'x-ver': { prefix: 'v2' } } }, req('/', { headers: { 'x-ver': 'v2.1' } })))
  t.ok(match({ headers: { 'x-ver': { regex: 'v[0-9]+' } } }, req('/', { headers: { 'x-ver': 'v22' } })))
  t.notOk(match({ headers: { 'x-ver': { regex: 'v[0-9]+' } } }, req('/', { headers: { 'x-ver': 'v22-beta' } })), 'full match')
  t.ok(match({ headers: { 'X-Ver': { exact: 'a' } } }, req('/', { headers: { 'x-ver': 'a' } })), 'names are lowercased')
})

t.test('present and empty-value header matches', async t => {
  t.ok(match({ headers: { 'x-a': {} } }, req('/', { headers: { 'x-a': '' } })), '{} = present, even with empty value')
  t.notOk(match({ headers: { 'x-a': {} } }, req('/')))
  t.ok(match({ headers: { 'x-a': { regex: '*' } } }, req('/', { headers: { 'x-a': 'v' } })))
  t.ok(match({ headers: { 'x-a': { exact: '' } } }, req('/', { headers: { 'x-a': '' } })))
  t.notOk(match({ headers: { 'x-a': { exact: '' } } }, req('/', { headers: { 'x-a': 'v' } })))
  t.notOk(match({ headers: { 'x-a': { exact: '' } } }, req('/')), 'missing is not empty for a positive match')
})

t.test('multi-valued headers are joined with "," as Envoy does', async t => {
  const headers = { 'x-tag': ['a', 'b'] } as IncomingHttpHeaders
  t.ok(match({ headers: { 'x-tag': { exact: 'a,b' } } }, req('/', { headers })))
  t.notOk(match({ headers: { 'x-tag': { exact: 'a' } } }, req('/', { headers })))
  t.ok(match({ headers: { 'x-tag': { prefix: 'a,' } } }, req('/', { headers })))
  t.ok(match({ headers: { 'x-tag': { regex: '.*,b' } } }, req('/', { headers })))
  t.ok(match({ headers: { 'x-tag': { exact: 'a' } } }, req('/', { headers: { 'x-tag': ['a'] } as IncomingHttpHeaders })))
  const raw = headersFromRaw(['Host', 'h', 'X-Tag', 'a', 'x-tag', 'b', 'X-One', '1'])
  t.same(raw, { host: 'h', 'x-tag': ['a', 'b'], 'x-one': '1' })
  t.ok(match({ headers: { 'x-tag': { exact: 'a,b' } } }, req('/', { headers: raw })))
})

t.test('withoutHeaders', async t => {
  const m = { withoutHeaders: { 'x-canary': { exact: 'true' } } }
  t.ok(match(m, req('/')), 'missing header: does not match, so withoutHeaders applies')
  t.ok(match(m, req('/', { headers: { 'x-canary': 'false' } })))
  t.notOk(match(m, req('/', { headers: { 'x-canary': 'true' } })))
  t.ok(match({ withoutHeaders: { 'x-a': {} } }, req('/')), 'present match inverted: absent')
  t.notOk(match({ withoutHeaders: { 'x-a': {} } }, req('/', { headers: { 'x-a': '' } })))
  t.ok(match({ withoutHeaders: { 'x-a': { regex: '*' } } }, req('/')))
  t.ok(match({ withoutHeaders: { 'x-a': { regex: 'v[0-9]' } } }, req('/')))
  t.notOk(match({ withoutHeaders: { 'x-a': { regex: 'v[0-9]' } } }, req('/', { headers: { 'x-a': 'v1' } })))
  // Istio sets treat_missing_header_as_empty: a missing header is read as '' and '' matches these.
  t.notOk(match({ withoutHeaders: { 'x-a': { exact: '' } } }, req('/')), 'exact "" vs missing: Envoy reads "" and it matches')
  t.notOk(match({ withoutHeaders: { 'x-a': { prefix: '' } } }, req('/')))
  t.notOk(match({ withoutHeaders: { 'x-a': { regex: '.*' } } }, req('/')))
  t.ok(match({ headers: { 'x-b': { exact: '1' } }, withoutHeaders: { 'x-a': { exact: '1' } } }, req('/', { headers: { 'x-b': '1' } })))
})

t.test('JWT claim conditions (no jwt_authn in Ferry)', async t => {
  t.notOk(match({ headers: { '@request.auth.claims.group': { exact: 'admin' } } }, req('/')))
  t.ok(match({ withoutHeaders: { '@request.auth.claims[group]': { exact: 'admin' } } }, req('/')))
})

t.test('pseudo-header names in headers', async t => {
  t.ok(match({ headers: { ':authority': { prefix: 'reviews' } } }, req('/')))
  t.ok(match({ headers: { ':path': { exact: '/a?b=1' } } }, req('/a?b=1')), ':path includes the query')
  t.ok(match({ headers: { ':method': { exact: 'PUT' } } }, req('/', { method: 'PUT' })))
})

t.test('queryParams', async t => {
  t.ok(match({ queryParams: { v: { exact: '1' } } }, req('/p?v=1')))
  t.notOk(match({ queryParams: { v: { exact: '1' } } }, req('/p?v=10')))
  t.notOk(match({ queryParams: { v: { exact: '1' } } }, req('/p')))
  t.ok(match({ queryParams: { v: { exact: '' } } }, req('/p?v')), 'exact "" matches ?key')
  t.ok(match({ queryParams: { v: { exact: '' } } }, req('/p?v=')), 'exact "" matches ?key=')
  t.notOk(match({ queryParams: { v: { exact: '' } } }, req('/p?v=x')))
  t.notOk(match({ queryParams: { v: { exact: '' } } }, req('/p?w')))
  t.ok(match({ queryParams: { v: { prefix: 'ab' } } }, req('/p?a=1&v=abc')))
  t.ok(match({ queryParams: { v: { regex: '[0-9]+' } } }, req('/p?v=123')))
  t.notOk(match({ queryParams: { v: { regex: '[0-9]+' } } }, req('/p?v=123x')), 'regex matches the whole value')
  t.ok(match({ queryParams: { v: {} } }, req('/p?v=anything')), '{} is present')
  t.ok(match({ queryParams: { v: { regex: '*' } } }, req('/p?v')), 'regex "*" is present')
  t.ok(match({ queryParams: { v: { exact: '1' } } }, req('/p?v=1&v=2')), 'first occurrence wins')
  t.notOk(match({ queryParams: { v: { exact: '2' } } }, req('/p?v=1&v=2')))
  t.ok(match({ queryParams: { q: { exact: 'a%20b' } } }, req('/p?q=a%20b')), 'values are not percent-decoded')
  t.notOk(match({ queryParams: { q: { exact: 'a b' } } }, req('/p?q=a%20b')))
  t.ok(match({ queryParams: { 'a b': {} } }, req('/p?a b=1')))
  t.ok(match({ queryParams: { x: { exact: 'a=b' } } }, req('/p?x=a=b')), 'split at the first =')
  t.ok(match({ queryParams: { a: { exact: '1' }, b: { exact: '2' } } }, req('/p?b=2&a=1')), 'conditions AND')
  t.notOk(match({ queryParams: { a: { exact: '1' }, b: { exact: '2' } } }, req('/p?b=2')))
})

t.test('query is parsed once per request and cached on the view', async t => {
  const r = req('/p?a=1&b=2')
  t.equal(r.queryMap, undefined)
  const m1 = compileHttpMatch({ queryParams: { a: { exact: '1' } } })
  const m2 = compileHttpMatch({ queryParams: { b: { exact: '3' } } })
  t.notOk(m2.matches(r))
  const cached = r.queryMap
  t.ok(cached instanceof Map)
  t.ok(m1.matches(r))
  t.equal(r.queryMap, cached, 'same map reused')
  t.equal(queryParams(req('/p')), queryParams(req('/q')), 'empty queries share one map')
  t.same([...parseQuery('a=1&&b&=z&a=2&')], [['a', '1'], ['', ''], ['b', '']], "Envoy's split: '' entries, trailing & ignored")
})

t.test('AND inside a block', async t => {
  const m: HTTPMatchRequest = {
    uri: { prefix: '/api' },
    method: { exact: 'POST' },
    headers: { 'x-user': { exact: 'a' } },
    queryParams: { debug: {} },
  }
  const ok = req('/api/x?debug=1', { method: 'POST', headers: { 'x-user': 'a' } })
  t.ok(match(m, ok))
  t.notOk(match(m, req('/api/x?debug=1', { method: 'GET', headers: { 'x-user': 'a' } })))
  t.notOk(match(m, req('/api/x', { method: 'POST', headers: { 'x-user': 'a' } })))
  t.notOk(match(m, req('/other?debug=1', { method: 'POST', headers: { 'x-user': 'a' } })))
  t.notOk(match(m, req('/api/x?debug=1', { method: 'POST' })))
})

t.test('compile-time fields are ignored at run time', async t => {
  t.ok(match({ port: 1, sourceLabels: { app: 'nope' }, gateways: ['x'], sourceNamespace: 'nope' }, req('/')))
})

t.test('allOf', async t => {
  const both = allOf(compileHttpMatch({ uri: { prefix: '/a' } }), compileHttpMatch({ method: { exact: 'GET' } }))
  t.ok(both.matches(req('/a')))
  t.notOk(both.matches(req('/a', { method: 'PUT' })))
  t.notOk(both.matches(req('/b')))
})

t.test('firstMatch', async t => {
  const route = (name: string, blocks: HTTPMatchRequest[] | null): { name: string; matches: HttpMatch[] | null } => ({
    name,
    matches: blocks === null ? null : blocks.map(compileHttpMatch),
  })
  const routes = [
    route('v2-jason', [{ headers: { 'end-user': { exact: 'jason' } } }]),
    route('static', [{ uri: { prefix: '/static' } }, { uri: { exact: '/favicon.ico' } }]),
    route('empty-list', []),
    route('never', [{ uri: { exact: '/never' } }]),
  ]
  t.equal(firstMatch(routes, req('/', { headers: { 'end-user': 'jason' } }))?.name, 'v2-jason')
  t.equal(firstMatch(routes, req('/static/app.js'))?.name, 'static', 'blocks are ORed')
  t.equal(firstMatch(routes, req('/favicon.ico'))?.name, 'static')
  t.equal(firstMatch(routes, req('/never'))?.name, 'empty-list', 'order wins; an empty list matches all')
  t.equal(firstMatch([route('catch-all', null)], req('/x'))?.name, 'catch-all')
  t.equal(firstMatch(routes.slice(0, 2), req('/x')), null, 'no route: null (404 NR)')
  t.equal(firstMatch([], req('/x')), null)
})

t.test('staticMatch', async t => {
  const sidecar: StaticMatchContext = {
    port: 9080,
    proxyLabels: { app: 'productpage', version: 'v1' },
    proxyNamespace: 'default',
    gateway: 'mesh',
    vsNamespace: 'default',
    vsGateways: [],
  }
  t.ok(staticMatch({}, sidecar))
  t.ok(staticMatch({ port: 9080 }, sidecar))
  t.notOk(staticMatch({ port: 8080 }, sidecar))
  t.notOk(staticMatch({ port: 9080 }, { ...sidecar, port: null }), 'unknown listener port fails port conditions (Istio listenPort 0)')
  t.ok(staticMatch({ sourceLabels: { app: 'productpage' } }, sidecar), 'subset')
  t.ok(staticMatch({ sourceLabels: {} }, sidecar))
  t.notOk(staticMatch({ sourceLabels: { app: 'productpage', version: 'v2' } }, sidecar))
  t.notOk(staticMatch({ sourceLabels: { team: 'x' } }, sidecar))
  t.ok(staticMatch({ sourceNamespace: 'default' }, sidecar))
  t.notOk(staticMatch({ sourceNamespace: 'prod' }, sidecar))
  t.ok(staticMatch({ sourceNamespace: '' }, sidecar))

  // Top-level binding.
  t.notOk(staticMatch({}, { ...sidecar, vsGateways: ['bookinfo-gateway'] }), 'bound to a gateway only')
  t.ok(staticMatch({}, { ...sidecar, vsGateways: ['bookinfo-gateway', 'mesh'] }))
  const gw: StaticMatchContext = { ...sidecar, gateway: 'istio-system/ingress', vsGateways: ['istio-system/ingress'] }
  t.ok(staticMatch({}, gw))
  t.notOk(staticMatch({}, { ...gw, vsGateways: [] }), 'no gateways means mesh only')
  t.ok(staticMatch({}, { ...gw, vsNamespace: 'istio-system', vsGateways: ['ingress'] }), 'short name in the VS namespace')
  t.notOk(staticMatch({}, { ...gw, vsGateways: ['ingress'] }), 'short name resolves to default/ingress')

  // Match-level gateways narrow (and skip source checks, as Istio's sourceMatchHTTP does).
  const both: StaticMatchContext = { ...gw, vsGateways: ['mesh', 'istio-system/ingress'] }
  t.ok(staticMatch({ gateways: ['istio-system/ingress'] }, both))
  t.notOk(staticMatch({ gateways: ['mesh'] }, both))
  t.ok(staticMatch({ gateways: ['mesh'] }, { ...both, gateway: 'mesh' }))
  t.notOk(staticMatch({ gateways: ['istio-system/other'] }, { ...gw, vsGateways: ['istio-system/ingress'] }))
  t.notOk(staticMatch({ gateways: ['istio-system/ingress'] }, { ...gw, vsGateways: ['mesh'] }), 'cannot widen the top-level binding')
  t.ok(staticMatch({ gateways: ['istio-system/ingress'], sourceLabels: { app: 'x' }, sourceNamespace: 'y' }, both), 'sourceLabels/sourceNamespace ignored when gateways are listed')
  t.notOk(staticMatch({ gateways: ['istio-system/ingress'], port: 1 }, both), 'port is still checked')
})

t.test('resolveGatewayName', async t => {
  t.equal(resolveGatewayName('mesh', 'ns'), 'mesh')
  t.equal(resolveGatewayName('gw', 'ns'), 'ns/gw')
  t.equal(resolveGatewayName('other/gw', 'ns'), 'other/gw')
  t.equal(resolveGatewayName('./gw', 'ns'), 'ns/gw')
  t.equal(resolveGatewayName('gw.other.svc.cluster.local', 'ns'), 'other/gw')
  t.equal(resolveGatewayName('gw.other', 'ns'), 'other/gw')
})
