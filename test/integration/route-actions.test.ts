// What a matched route does, through a running gateway with real upstreams: redirects, direct
// responses, rewrites, header operations, CORS, mirroring, delegation, weighted subsets, and the
// local 503s for a missing cluster or no endpoints.

import t from 'tap'
import { startUpstream, startFerry, request, stat, serviceEntry, GATEWAY, type Upstream } from '../helpers/harness'

/** An upstream answering JSON `{name, url, host}`, plus any headers the handler wants to show. */
async function backend (name: string, extra: Record<string, string> = {}): Promise<Upstream> {
  return await startUpstream((req, res) => {
    const body = JSON.stringify({ name, url: req.url, host: req.headers.host })
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), ...extra })
    res.end(body)
  })
}

/** Polls `check` until it holds or `ms` pass; returns whether it held. */
async function eventually (check: () => boolean, ms = 3000): Promise<boolean> {
  const deadline = Date.now() + ms
  while (!check()) {
    if (Date.now() > deadline) return false
    await new Promise(resolve => setTimeout(resolve, 10))
  }
  return true
}

const VS = `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: actions}
spec:
  hosts: [actions.test]
  gateways: [gw]
  http:
  - match: [{uri: {exact: /old}}]
    redirect: {uri: /new}
  - match: [{uri: {exact: /found}}]
    redirect: {uri: /elsewhere, redirectCode: 302}
  - match: [{uri: {prefix: /to-authority}}]
    redirect: {authority: other.test}
  - match: [{uri: {prefix: /to-https}}]
    redirect: {scheme: https}
  - match: [{uri: {prefix: /to-port}}]
    redirect: {port: 8443}
  - match: [{uri: {exact: /teapot}}]
    directResponse: {status: 418, body: {string: "short and stout"}}
  - match: [{uri: {exact: /empty}}]
    directResponse: {status: 204}
  - match: [{uri: {prefix: /api/v1}}]
    rewrite: {uri: /v2}
    route: [{destination: {host: main.test}}]
  - match: [{uri: {prefix: /strip/}}]
    rewrite: {uri: /}
    route: [{destination: {host: main.test}}]
  - match: [{uri: {exact: /exact-old}}]
    rewrite: {uri: /exact-new}
    route: [{destination: {host: main.test}}]
  - match: [{uri: {prefix: /rx/}}]
    rewrite: {uriRegexRewrite: {match: '^/rx/([a-z]+)/([0-9]+)$', rewrite: '/items/\\2/\\1'}}
    route: [{destination: {host: main.test}}]
  - match: [{uri: {prefix: /authority}}]
    rewrite: {authority: rewritten.internal}
    route: [{destination: {host: main.test}}]
  - match: [{uri: {prefix: /headers}}]
    headers:
      request: {set: {x-set: route}, add: {x-add: route}, remove: [x-remove]}
      response: {set: {x-resp-set: route}, add: {x-resp-add: route}, remove: [x-resp-remove]}
    route:
    - destination: {host: headers.test}
      headers:
        request: {set: {x-dest: dest}, remove: [x-dest-remove]}
        response: {set: {x-dest-resp: dest}, remove: [x-dest-resp-remove]}
  - match: [{uri: {prefix: /cors}}]
    corsPolicy:
      allowOrigins: [{exact: "https://good.example"}, {prefix: "https://also."}]
      allowMethods: [GET, POST]
      allowHeaders: [x-custom]
      exposeHeaders: [x-exposed]
      maxAge: 24h
      allowCredentials: true
    route: [{destination: {host: main.test}}]
  - match: [{uri: {prefix: /mirror-all}}]
    route: [{destination: {host: main.test}}]
    mirror: {host: shadow.test}
  - match: [{uri: {prefix: /mirror-none}}]
    route: [{destination: {host: main.test}}]
    mirror: {host: shadow.test}
    mirrorPercentage: {value: 0}
  - match: [{uri: {prefix: /mirrors}}]
    route: [{destination: {host: main.test}}]
    mirrors:
    - destination: {host: shadow2.test}
      percentage: {value: 100}
    - destination: {host: shadow.test}
      percentage: {value: 0}
  - match: [{uri: {prefix: /weighted}}]
    route:
    - destination: {host: versions.test, subset: v1}
      weight: 30
    - destination: {host: versions.test, subset: v2}
      weight: 70
  - match: [{uri: {prefix: /only-v2}}]
    route:
    - destination: {host: versions.test, subset: v1}
      weight: 0
    - destination: {host: versions.test, subset: v2}
      weight: 100
  - match: [{uri: {prefix: /subset-v1}}]
    route: [{destination: {host: versions.test, subset: v1}}]
  - match: [{uri: {prefix: /unknown-subset}}]
    route: [{destination: {host: versions.test, subset: v9}}]
  - match: [{uri: {prefix: /unknown-host}}]
    route: [{destination: {host: nowhere.test, port: {number: 80}}}]
  - match: [{uri: {prefix: /no-endpoints}}]
    route: [{destination: {host: versions.test, subset: empty}}]
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: versions}
spec:
  host: versions.test
  subsets:
  - {name: v1, labels: {version: v1}}
  - {name: v2, labels: {version: v2}}
  - {name: empty, labels: {version: none}}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: root}
spec:
  hosts: [delegate.test]
  gateways: [gw]
  http:
  - match: [{uri: {prefix: /reviews}}]
    delegate: {name: reviews-delegate, namespace: default}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews-delegate, namespace: default}
spec:
  http:
  - match: [{uri: {prefix: /reviews/v2}}]
    route: [{destination: {host: versions.test, subset: v2}}]
  - route: [{destination: {host: versions.test, subset: v1}}]
---
`

t.test('route actions', async t => {
  const main = await backend('main')
  const headersUp = await startUpstream((req, res) => {
    const body = JSON.stringify(req.headers)
    res.writeHead(200, {
      'content-type': 'application/json',
      'content-length': Buffer.byteLength(body),
      'x-resp-set': 'upstream',
      'x-resp-add': 'upstream',
      'x-resp-remove': 'upstream',
      'x-dest-resp-remove': 'upstream'
    })
    res.end(body)
  })
  const shadow = await backend('shadow')
  const shadow2 = await backend('shadow2')
  const v1 = await backend('v1')
  const v2 = await backend('v2')
  const all = [main, headersUp, shadow, shadow2, v1, v2]
  t.teardown(async () => { await Promise.all(all.map(u => u.close())) })
  const yaml = GATEWAY +
    serviceEntry('main.test', 80, [{ port: main.port }]) +
    serviceEntry('headers.test', 80, [{ port: headersUp.port }]) +
    serviceEntry('shadow.test', 80, [{ port: shadow.port }]) +
    serviceEntry('shadow2.test', 80, [{ port: shadow2.port }]) +
    serviceEntry('versions.test', 80, [{ port: v1.port, labels: { version: 'v1' } }, { port: v2.port, labels: { version: 'v2' } }]) +
    VS
  const f = await startFerry(yaml)
  t.teardown(() => f.stop())
  const get = (path: string, opts: Parameters<typeof request>[2] = {}): ReturnType<typeof request> => request(f.port, path, { host: 'actions.test', ...opts })
  const json = (body: string): Record<string, string> => JSON.parse(body) as Record<string, string>
  const upstreamTotal = (): number => all.reduce((n, u) => n + u.requests.length, 0)

  t.test('redirects', async t => {
    const before = upstreamTotal()
    let r = await get('/old?a=1&b=2')
    t.equal(r.status, 301, 'default code 301')
    t.equal(r.headers.location, 'http://actions.test/new?a=1&b=2', 'uri replaced, query kept')
    r = await get('/found')
    t.equal(r.status, 302, 'redirectCode')
    t.equal(r.headers.location, 'http://actions.test/elsewhere')
    r = await get('/to-authority/x?q')
    t.equal(r.headers.location, 'http://other.test/to-authority/x?q', 'authority replaced, path kept')
    r = await get('/to-https/y')
    t.equal(r.headers.location, 'https://actions.test/to-https/y', 'scheme replaced')
    r = await get('/to-port/z', { host: 'actions.test:8080' })
    t.equal(r.headers.location, 'http://actions.test:8443/to-port/z', 'port replaced')
    r = await get('/to-port/z')
    t.equal(r.headers.location, 'http://actions.test:8443/to-port/z', 'port added')
    t.equal(upstreamTotal(), before, 'redirects never reach an upstream')
  })

  t.test('direct responses', async t => {
    const before = upstreamTotal()
    let r = await get('/teapot')
    t.equal(r.status, 418)
    t.equal(r.body, 'short and stout')
    t.equal(r.headers['content-length'], String('short and stout'.length))
    r = await get('/empty')
    t.equal(r.status, 204)
    t.equal(r.body, '')
    t.equal(upstreamTotal(), before, 'direct responses never reach an upstream')
  })

  t.test('uri rewrites', async t => {
    let r = await get('/api/v1/items?x=1')
    t.equal(json(r.body).url, '/v2/items?x=1', 'prefix replaced, rest and query kept')
    t.equal(main.requests.at(-1)?.headers['x-envoy-original-path'], '/api/v1/items?x=1', 'x-envoy-original-path')
    r = await get('/strip/a/b')
    t.equal(json(r.body).url, '/a/b', 'prefix /strip/ rewritten to /')
    r = await get('/exact-old?k=v')
    t.equal(json(r.body).url, '/exact-new?k=v', 'exact match: the whole path replaced')
    r = await get('/rx/abc/42')
    t.equal(json(r.body).url, '/items/42/abc', 'uriRegexRewrite with \\1 \\2')
    r = await get('/rx/abc/42?z=9')
    t.equal(json(r.body).url, '/items/42/abc?z=9', 'uriRegexRewrite keeps the query')
    r = await get('/authority/p')
    t.equal(json(r.body).host, 'rewritten.internal', 'upstream sees the rewritten Host')
    t.equal(json(r.body).url, '/authority/p')
    r = await get('/exact-old?k=v')
    t.equal(main.requests.at(-1)?.headers['x-envoy-original-path'], '/exact-old?k=v')
    await get('/authority/p')
    t.equal(main.requests.at(-1)?.headers['x-envoy-original-path'], undefined, 'no x-envoy-original-path without a path rewrite')
  })

  t.test('header operations at route and destination level', async t => {
    const r = await get('/headers', {
      headers: { 'x-set': 'client', 'x-add': 'client', 'x-remove': 'client', 'x-dest-remove': 'client', 'x-keep': 'client' }
    })
    t.equal(r.status, 200)
    const seen = json(r.body)
    t.equal(seen['x-set'], 'route', 'request set overwrites')
    t.equal(seen['x-add'], 'client, route', 'request add appends')
    t.notOk('x-remove' in seen, 'request remove')
    t.equal(seen['x-dest'], 'dest', 'destination-level request set')
    t.notOk('x-dest-remove' in seen, 'destination-level request remove')
    t.equal(seen['x-keep'], 'client', 'other headers untouched')
    t.equal(r.headers['x-resp-set'], 'route', 'response set overwrites')
    t.equal(r.headers['x-resp-add'], 'upstream, route', 'response add appends')
    t.notOk('x-resp-remove' in r.headers, 'response remove')
    t.equal(r.headers['x-dest-resp'], 'dest', 'destination-level response set')
    t.notOk('x-dest-resp-remove' in r.headers, 'destination-level response remove')
  })

  t.test('CORS', async t => {
    let before = main.requests.length
    let r = await get('/cors/x', { method: 'OPTIONS', headers: { origin: 'https://good.example', 'access-control-request-method': 'POST' } })
    t.equal(r.status, 200, 'preflight answered')
    t.equal(r.headers['access-control-allow-origin'], 'https://good.example')
    t.equal(r.headers['access-control-allow-methods'], 'GET,POST')
    t.equal(r.headers['access-control-allow-headers'], 'x-custom')
    t.equal(r.headers['access-control-max-age'], '86400')
    t.equal(r.headers['access-control-allow-credentials'], 'true')
    t.equal(main.requests.length, before, 'preflight not forwarded')

    r = await get('/cors/x', { method: 'OPTIONS', headers: { origin: 'https://also.example', 'access-control-request-method': 'GET' } })
    t.equal(r.headers['access-control-allow-origin'], 'https://also.example', 'prefix origin match')

    r = await get('/cors/x', { headers: { origin: 'https://good.example' } })
    t.equal(r.status, 200)
    t.equal(r.headers['access-control-allow-origin'], 'https://good.example', 'actual request decorated')
    t.equal(r.headers['access-control-expose-headers'], 'x-exposed')
    t.equal(main.requests.length, before + 1, 'actual request forwarded')

    before = main.requests.length
    r = await get('/cors/x', { headers: { origin: 'https://evil.example' } })
    t.equal(r.status, 200)
    t.notOk('access-control-allow-origin' in r.headers, 'disallowed origin gets no CORS headers')
    r = await get('/cors/x', { method: 'OPTIONS', headers: { origin: 'https://evil.example', 'access-control-request-method': 'POST' } })
    t.notOk('access-control-allow-origin' in r.headers, 'disallowed preflight gets no CORS headers')
    t.equal(main.requests.length, before + 2, 'disallowed preflight is forwarded (unmatchedPreflights FORWARD)')
  })

  t.test('mirroring', async t => {
    const s0 = shadow.requests.length
    const r = await get('/mirror-all/1', { method: 'POST', body: 'payload', headers: { 'content-type': 'text/plain' } })
    t.equal(json(r.body).name, 'main', 'the client gets the primary answer')
    t.ok(await eventually(() => shadow.requests.length === s0 + 1), 'mirror received the copy')
    const copy = shadow.requests[s0]
    t.equal(copy.headers.host, 'actions.test-shadow', 'mirror sees <authority>-shadow')
    t.equal(copy.url, '/mirror-all/1')
    t.equal(copy.method, 'POST')
    t.equal(copy.body.toString(), 'payload', 'mirror gets the body')

    // 0%: never. 50 requests, then a 100% mirror to a second upstream as a fence.
    const s1 = shadow.requests.length
    const s2 = shadow2.requests.length
    for (let i = 0; i < 50; i++) await get('/mirror-none')
    for (let i = 0; i < 50; i++) await get('/mirrors')
    t.ok(await eventually(() => shadow2.requests.length === s2 + 50), 'mirrors: the 100% target got every request')
    t.ok(shadow2.requests.slice(s2).every(r => r.headers.host === 'actions.test-shadow'))
    t.equal(shadow.requests.length, s1, 'mirrorPercentage 0 and mirrors percentage 0: never mirrored')
  })

  t.test('weighted destinations with subsets', async t => {
    const counts = { v1: 0, v2: 0 }
    for (let i = 0; i < 400; i++) {
      const name = json((await get('/weighted')).body).name as 'v1' | 'v2'
      counts[name]++
    }
    t.equal(counts.v1 + counts.v2, 400)
    // Binomial(400, 0.3): mean 120, sd ≈ 9.2; 70..170 is beyond 5 sd.
    t.ok(counts.v1 >= 70 && counts.v1 <= 170, `v1 got ${counts.v1}/400 at weight 30`)
    for (let i = 0; i < 30; i++) t.equal(json((await get('/only-v2')).body).name, 'v2', 'weight 0 is never picked')
    for (let i = 0; i < 30; i++) t.equal(json((await get('/subset-v1')).body).name, 'v1', 'subset labels select the endpoints')
  })

  t.test('delegate', async t => {
    t.equal(json((await get('/reviews/v2/1', { host: 'delegate.test' })).body).name, 'v2', "delegate's first route")
    t.equal(json((await get('/reviews/7', { host: 'delegate.test' })).body).name, 'v1', "delegate's catch-all route under the root match")
    t.equal((await get('/ratings', { host: 'delegate.test' })).status, 404, 'outside the root match: 404')
  })

  t.test('unknown subset or host: 503 NC', async t => {
    const before = upstreamTotal()
    const stat0 = (await stat(f, `http.outbound_0.0.0.0_${f.port}.no_cluster`)) ?? 0
    let r = await get('/unknown-subset')
    t.equal(r.status, 503)
    r = await get('/unknown-host')
    t.equal(r.status, 503)
    t.equal(await stat(f, `http.outbound_0.0.0.0_${f.port}.no_cluster`), stat0 + 2, 'no_cluster counted twice')
    t.equal(upstreamTotal(), before)
  })

  t.test('no endpoints: 503 no healthy upstream', async t => {
    const r = await get('/no-endpoints')
    t.equal(r.status, 503)
    t.equal(r.body, 'no healthy upstream')
  })
})
