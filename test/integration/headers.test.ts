// Headers the proxy itself owns: hop-by-hop headers stop at each hop (both directions), the
// x-forwarded-* pair, x-request-id, and the x-envoy-* headers Envoy adds.

import t from 'tap'
import { startUpstream, startFerry, request, rawRequest, serviceEntry, GATEWAY } from '../helpers/harness'

const VS = `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: hdr}
spec:
  hosts: ["*"]
  gateways: [gw]
  http:
  - match: [{uri: {prefix: /rewrite}}]
    rewrite: {uri: /rewritten}
    route: [{destination: {host: echo.test}}]
  - route: [{destination: {host: echo.test}}]
`

const UUID_V4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/

/** Header names (lowercase) of a raw HTTP/1.1 response head. */
function headNames (raw: string): Map<string, string[]> {
  const head = raw.slice(0, raw.indexOf('\r\n\r\n'))
  const out = new Map<string, string[]>()
  for (const line of head.split('\r\n').slice(1)) {
    const i = line.indexOf(':')
    const name = line.slice(0, i).toLowerCase()
    out.set(name, [...(out.get(name) ?? []), line.slice(i + 1).trim()])
  }
  return out
}

t.test('proxy-owned headers', async t => {
  const up = await startUpstream((req, res, body) => {
    if (req.url === '/hop-response') {
      // Every hop-by-hop header a response can carry, plus one the Connection header lists.
      res.setHeader('connection', 'x-up-listed')
      res.setHeader('x-up-listed', 'secret')
      res.setHeader('keep-alive', 'timeout=5')
      res.setHeader('proxy-connection', 'keep-alive')
      res.setHeader('upgrade', 'foo/1')
      res.setHeader('te', 'trailers')
      res.setHeader('x-up-normal', 'kept')
      res.setHeader('content-type', 'text/plain')
      res.end('hop') // chunked: no content-length
      return
    }
    const out = JSON.stringify({ url: req.url, headers: req.headers, body: body.toString() })
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(out) })
    res.end(out)
  })
  t.teardown(() => up.close())
  const f = await startFerry(GATEWAY + serviceEntry('echo.test', 80, [{ port: up.port }]) + VS)
  t.teardown(() => f.stop())

  t.test('hop-by-hop request headers are not forwarded', async t => {
    const body = 'abc'
    const raw = await rawRequest(f.port,
      'POST /hop HTTP/1.1\r\nHost: h.test\r\n' +
      'Connection: keep-alive, X-Conn-Listed\r\nX-Conn-Listed: secret\r\nKeep-Alive: timeout=5\r\n' +
      'TE: trailers\r\nUpgrade: h2c\r\nProxy-Connection: keep-alive\r\nX-Normal: yes\r\n' +
      `Transfer-Encoding: chunked\r\n\r\n${body.length.toString(16)}\r\n${body}\r\n0\r\n\r\n`)
    t.match(raw, /^HTTP\/1\.1 200 /)
    t.equal(up.requests.length, 1)
    const h = up.requests[0].headers
    t.notOk('x-conn-listed' in h, 'a header named in Connection is dropped')
    t.notMatch(String(h.connection ?? ''), /x-conn-listed/i, 'Connection is not copied')
    t.notOk('keep-alive' in h, 'Keep-Alive dropped')
    t.notOk('te' in h, 'TE dropped')
    t.notOk('upgrade' in h, 'Upgrade dropped')
    t.notOk('proxy-connection' in h, 'Proxy-Connection dropped')
    t.equal(h['x-normal'], 'yes', 'end-to-end headers kept')
    t.equal(up.requests[0].body.toString(), body, 'the chunked body arrived whole')
  })

  t.test('hop-by-hop response headers are not returned', async t => {
    const raw = await rawRequest(f.port, 'GET /hop-response HTTP/1.1\r\nHost: h.test\r\nConnection: close\r\n\r\n')
    t.match(raw, /^HTTP\/1\.1 200 /)
    const h = headNames(raw)
    t.notOk(h.has('x-up-listed'), 'a header named in Connection is dropped')
    t.notMatch((h.get('connection') ?? []).join(','), /x-up-listed/i)
    t.notOk((h.get('keep-alive') ?? []).includes('timeout=5'), "the upstream's Keep-Alive dropped")
    t.notOk(h.has('proxy-connection'), 'Proxy-Connection dropped')
    t.notOk(h.has('upgrade'), 'Upgrade dropped')
    t.notOk(h.has('te'), 'TE dropped')
    t.same(h.get('x-up-normal'), ['kept'], 'end-to-end headers kept')
    t.match(raw, /\r\n\r\n(3\r\nhop\r\n0\r\n\r\n|hop)$/, 'body intact')
  })

  t.test('x-forwarded-for and x-forwarded-proto', async t => {
    let r = await request(f.port, '/xff')
    let h = (JSON.parse(r.body) as { headers: Record<string, string> }).headers
    t.equal(h['x-forwarded-for'], '127.0.0.1', 'created with the client address')
    t.equal(h['x-forwarded-proto'], 'http')
    r = await request(f.port, '/xff', { headers: { 'x-forwarded-for': '203.0.113.7, 10.0.0.1', 'x-forwarded-proto': 'https' } })
    h = (JSON.parse(r.body) as { headers: Record<string, string> }).headers
    t.equal(h['x-forwarded-for'], '203.0.113.7, 10.0.0.1, 127.0.0.1', 'the client address is appended')
    t.equal(h['x-forwarded-proto'], 'http', 'a gateway sets x-forwarded-proto from its own listener')
  })

  t.test('x-request-id', async t => {
    let r = await request(f.port, '/rid')
    const created = (JSON.parse(r.body) as { headers: Record<string, string> }).headers['x-request-id']
    t.match(created, UUID_V4, 'a UUIDv4 is created when absent')
    r = await request(f.port, '/rid')
    t.not((JSON.parse(r.body) as { headers: Record<string, string> }).headers['x-request-id'], created, 'a new one per request')
    r = await request(f.port, '/rid', { headers: { 'x-request-id': 'client-chosen-id' } })
    t.equal((JSON.parse(r.body) as { headers: Record<string, string> }).headers['x-request-id'], 'client-chosen-id', 'kept when present')
  })

  t.test('x-envoy-* headers', async t => {
    let r = await request(f.port, '/envoy')
    t.match(r.headers['x-envoy-upstream-service-time'], /^\d+$/, 'x-envoy-upstream-service-time on the response')
    t.equal(r.headers.server, 'istio-envoy')
    let h = (JSON.parse(r.body) as { headers: Record<string, string> }).headers
    t.equal(h['x-envoy-attempt-count'], '1', 'x-envoy-attempt-count: 1')
    t.notOk('x-envoy-original-path' in h, 'no original path without a rewrite')
    r = await request(f.port, '/rewrite/a?b=c')
    const seen = JSON.parse(r.body) as { url: string, headers: Record<string, string> }
    t.equal(seen.url, '/rewritten/a?b=c')
    t.equal(seen.headers['x-envoy-original-path'], '/rewrite/a?b=c', 'x-envoy-original-path on a rewrite')
    h = seen.headers
    t.equal(h.host, 'example.com', 'Host passes through unchanged')
  })
})
