// Every HTTPMatchRequest condition through a running gateway: each route sets `x-route` on the
// upstream request, and the upstream answers with the value it saw, so the body names the route
// that matched. No route matched: Envoy's 404 NR with an empty body, upstream untouched.

import t from 'tap'
import { startUpstream, startFerry, request, serviceEntry, GATEWAY, type Reply } from '../helpers/harness'

const route = (name: string, match: string): string => `  - name: ${name}
${match === '' ? '' : `    match:\n${match}`}    route: [{destination: {host: echo.test}}]
    headers: {request: {set: {x-route: ${name}}}}
`

const VS = `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: routing}
spec:
  hosts: ["*"]
  gateways: [gw]
  http:
${route('exact', '    - uri: {exact: /exact}\n')}${route('prefix', '    - uri: {prefix: /prefix}\n')}${route('regex', "    - uri: {regex: '/re/[0-9]+'}\n")}${route('nocase-exact', '    - uri: {exact: /NoCase}\n      ignoreUriCase: true\n')}${route('nocase-prefix', '    - uri: {prefix: /UP/}\n      ignoreUriCase: true\n')}${route('case-exact', '    - uri: {exact: /Case}\n')}${route('method', '    - uri: {prefix: /method}\n      method: {exact: DELETE}\n')}${route('authority', '    - uri: {prefix: /auth}\n      authority: {exact: auth.test}\n')}${route('authority-prefix', '    - uri: {prefix: /auth}\n      authority: {prefix: authp}\n')}${route('scheme-https', '    - uri: {prefix: /scheme}\n      scheme: {exact: https}\n')}${route('scheme-http', '    - uri: {prefix: /scheme}\n      scheme: {exact: http}\n')}${route('h-exact', '    - uri: {prefix: /hdr}\n      headers: {x-h: {exact: one}}\n')}${route('h-prefix', '    - uri: {prefix: /hdr}\n      headers: {x-h: {prefix: pre}}\n')}${route('h-regex', "    - uri: {prefix: /hdr}\n      headers: {x-h: {regex: 'r[0-9]+'}}\n")}${route('h-present', '    - uri: {prefix: /hdr}\n      headers: {x-present: {}}\n')}${route('without', '    - uri: {prefix: /without}\n      withoutHeaders: {x-block: {exact: yes}}\n')}${route('q-exact', '    - uri: {prefix: /query}\n      queryParams: {q: {exact: v}}\n')}${route('q-empty', '    - uri: {prefix: /query}\n      queryParams: {flag: {exact: ""}}\n')}${route('q-prefix', '    - uri: {prefix: /query}\n      queryParams: {q: {prefix: pre}}\n')}${route('q-regex', "    - uri: {prefix: /query}\n      queryParams: {q: {regex: '[0-9]+'}}\n")}${route('or', '    - uri: {prefix: /or/a}\n    - uri: {prefix: /or/b}\n')}${route('and', '    - uri: {prefix: /and}\n      method: {exact: POST}\n      headers: {x-and: {exact: "1"}}\n')}${route('first-a', '    - uri: {prefix: /first}\n')}${route('first-b', '    - uri: {prefix: /first/more}\n')}${route('second-b', '    - uri: {prefix: /second/more}\n')}${route('second-a', '    - uri: {prefix: /second}\n')}${route('host-star', '    - uri: {exact: /which-host}\n')}---
`

const hostVs = (name: string, host: string): string => `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: ${name}}
spec:
  hosts: ["${host}"]
  gateways: [gw]
  http:
${route(name, '')}---
`

t.test('route matching through the gateway', async t => {
  const up = await startUpstream((req, res) => {
    const name = String(req.headers['x-route'] ?? 'none')
    res.writeHead(200, { 'content-type': 'text/plain', 'content-length': Buffer.byteLength(name) })
    res.end(name)
  })
  t.teardown(() => up.close())
  const yaml = GATEWAY + serviceEntry('echo.test', 80, [{ port: up.port }]) + VS +
    hostVs('host-exact', 'exact.example.com') + hostVs('host-wild', '*.example.com') + hostVs('host-wild-long', '*.sub.example.com')
  const f = await startFerry(yaml)
  t.teardown(() => f.stop())

  /** The route that served the request, or `<status>` when none did. */
  const which = async (path: string, opts: { method?: string, headers?: Record<string, string>, host?: string } = {}): Promise<string> => {
    const r: Reply = await request(f.port, path, { host: 'routing.test', ...opts })
    return r.status === 200 ? r.body : String(r.status)
  }

  t.test('uri exact, prefix, regex', async t => {
    t.equal(await which('/exact'), 'exact')
    t.equal(await which('/exact?x=1'), 'exact', 'exact ignores the query string')
    t.equal(await which('/exact/'), '404', 'exact is exact')
    t.equal(await which('/exactly'), '404')
    t.equal(await which('/prefix'), 'prefix')
    t.equal(await which('/prefixed/deeper'), 'prefix', 'prefix is a plain string prefix')
    t.equal(await which('/re/123'), 'regex')
    t.equal(await which('/re/123?q=abc'), 'regex', 'regex sees the path without the query')
    t.equal(await which('/re/123x'), '404', 'regex must match the whole path')
    t.equal(await which('/x/re/123'), '404', 'regex is anchored at the start')
  })

  t.test('ignoreUriCase', async t => {
    t.equal(await which('/nocase'), 'nocase-exact')
    t.equal(await which('/NOCASE'), 'nocase-exact')
    t.equal(await which('/up/Anything'), 'nocase-prefix')
    t.equal(await which('/Case'), 'case-exact')
    t.equal(await which('/case'), '404', 'case matters without ignoreUriCase')
  })

  t.test('method, authority, scheme', async t => {
    t.equal(await which('/method', { method: 'DELETE' }), 'method')
    t.equal(await which('/method', { method: 'GET' }), '404')
    t.equal(await which('/auth', { host: 'auth.test' }), 'authority')
    t.equal(await which('/auth', { host: 'authp-something.test' }), 'authority-prefix')
    t.equal(await which('/auth', { host: 'other.test' }), '404')
    t.equal(await which('/scheme'), 'scheme-http', 'a plain-text gateway listener is scheme http')
  })

  t.test('headers exact, prefix, regex, present', async t => {
    t.equal(await which('/hdr', { headers: { 'x-h': 'one' } }), 'h-exact')
    t.equal(await which('/hdr', { headers: { 'x-h': 'prefixed' } }), 'h-prefix')
    t.equal(await which('/hdr', { headers: { 'x-h': 'r42' } }), 'h-regex')
    t.equal(await which('/hdr', { headers: { 'x-h': 'r42x' } }), '404', 'header regex matches the whole value')
    t.equal(await which('/hdr', { headers: { 'x-h': 'ONE' } }), '404', 'exact header match is case-sensitive')
    t.equal(await which('/hdr', { headers: { 'x-present': '' } }), 'h-present', 'an empty value is present')
    t.equal(await which('/hdr', { headers: { 'x-present': 'anything' } }), 'h-present')
    t.equal(await which('/hdr'), '404')
  })

  t.test('withoutHeaders', async t => {
    t.equal(await which('/without'), 'without', 'a missing header does not match, so the route applies')
    t.equal(await which('/without', { headers: { 'x-block': 'no' } }), 'without')
    t.equal(await which('/without', { headers: { 'x-block': 'yes' } }), '404')
  })

  t.test('queryParams exact, empty, prefix, regex', async t => {
    t.equal(await which('/query?q=v'), 'q-exact')
    t.equal(await which('/query?other=1&q=v'), 'q-exact')
    t.equal(await which('/query?flag'), 'q-empty', '`exact: ""` matches a bare key')
    t.equal(await which('/query?flag='), 'q-empty')
    t.equal(await which('/query?flag=x'), '404', '`exact: ""` needs an empty value')
    t.equal(await which('/query?q=prefix'), 'q-prefix')
    t.equal(await which('/query?q=123'), 'q-regex')
    t.equal(await which('/query?q=123a'), '404')
    t.equal(await which('/query'), '404')
  })

  t.test('blocks are ORed, conditions ANDed, first match wins', async t => {
    t.equal(await which('/or/a'), 'or')
    t.equal(await which('/or/b'), 'or')
    t.equal(await which('/or/c'), '404')
    t.equal(await which('/and', { method: 'POST', headers: { 'x-and': '1' } }), 'and')
    t.equal(await which('/and', { method: 'GET', headers: { 'x-and': '1' } }), '404')
    t.equal(await which('/and', { method: 'POST' }), '404')
    t.equal(await which('/first/more'), 'first-a', 'an earlier broader route shadows a later narrower one')
    t.equal(await which('/second/more'), 'second-b', 'routes are tried in order')
    t.equal(await which('/second'), 'second-a')
  })

  t.test('no route: 404 with an empty body, upstream never reached', async t => {
    const before = up.requests.length
    const r = await request(f.port, '/nothing/here', { host: 'routing.test' })
    t.equal(r.status, 404)
    t.equal(r.body, '')
    t.equal(r.headers['content-length'], '0')
    t.equal(up.requests.length, before)
  })

  t.test('virtual host precedence: exact > longest suffix > *', async t => {
    t.equal(await which('/which-host', { host: 'exact.example.com' }), 'host-exact')
    t.equal(await which('/which-host', { host: 'EXACT.Example.COM' }), 'host-exact', 'host match ignores case')
    t.equal(await which('/which-host', { host: 'exact.example.com:1234' }), 'host-exact', 'the port is stripped from Host')
    t.equal(await which('/which-host', { host: 'foo.example.com' }), 'host-wild')
    t.equal(await which('/which-host', { host: 'a.sub.example.com' }), 'host-wild-long')
    t.equal(await which('/which-host', { host: 'a.sub.example.com:99' }), 'host-wild-long')
    t.equal(await which('/which-host', { host: 'elsewhere.org' }), 'host-star')
    t.equal(await which('/which-host', { host: `elsewhere.org:${f.port}` }), 'host-star')
    t.equal(await which('/exact', { host: 'routing.test:8080' }), 'exact', 'a port in Host does not stop routing')
  })
})
