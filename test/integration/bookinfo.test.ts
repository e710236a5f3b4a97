// The bookinfo sample through a Ferry gateway: the example files as shipped (only the gateway
// port and the endpoint ports rewritten), real upstreams on port 0 that answer with their name.

import t from 'tap'
import http from 'node:http'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { startUpstream, startFerry, type Upstream } from '../helpers/harness'

const ISTIO = join(__dirname, '..', '..', 'examples', 'bookinfo', 'istio')
const read = (f: string): string => readFileSync(join(ISTIO, f), 'utf8')

/** An upstream that answers `<name>` in the body and in `x-served-by`. */
async function named (name: string): Promise<Upstream> {
  return await startUpstream((_req, res) => {
    res.writeHead(200, { 'content-type': 'text/plain', 'x-served-by': name })
    res.end(name)
  })
}

/** GETs over one keep-alive agent (fast loops), body collected. */
function get (agent: http.Agent, port: number, path: string, host: string, headers: http.OutgoingHttpHeaders = {}): Promise<{ status: number, body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path, agent, headers: { host, ...headers } }, res => {
      const chunks: Buffer[] = []
      res.on('data', (c: Buffer) => chunks.push(c))
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString() }))
      res.on('error', reject)
    })
    req.on('error', reject)
    req.end()
  })
}

t.test('bookinfo gateway', async t => {
  const ups: Record<string, Upstream> = {}
  for (const n of ['productpage', 'reviews-v1', 'reviews-v2', 'reviews-v3', 'ratings', 'details']) ups[n] = await named(n)
  t.teardown(async () => { await Promise.all(Object.values(ups).map(u => u.close())) })

  const demoPorts: Record<string, string> = {
    19080: 'productpage', 19081: 'reviews-v1', 19082: 'reviews-v2', 19083: 'reviews-v3', 19084: 'ratings', 19085: 'details'
  }
  const services = read('services.yaml').replace(/\{http: (190\d\d)\}/g, (_m, p: string) => `{http: ${ups[demoPorts[p]].port}}`)
  t.notMatch(services, /1908\d/, 'every demo endpoint port rewritten')
  const gateway = read('bookinfo-gateway.yaml').replace('number: 8080', 'number: ${PORT}')
  t.not(gateway, read('bookinfo-gateway.yaml'), 'gateway port rewritten')
  // The reviews VirtualService is mesh-bound in the sample; a gateway-bound copy lets the gateway
  // serve it (Host: reviews.default.svc.cluster.local) without touching the `*` host of bookinfo.
  const reviewsVs = read('virtual-service-reviews-jason-v2-v3.yaml')
    .replace('name: reviews', 'name: reviews-at-gateway')
    .replace('spec:\n', 'spec:\n  gateways: [bookinfo-gateway]\n')
  const canaryVs = `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews-canary}
spec:
  hosts: [canary.bookinfo.example]
  gateways: [bookinfo-gateway]
  http:
  - route:
    - destination: {host: reviews, subset: v1}
      weight: 90
    - destination: {host: reviews, subset: v2}
      weight: 10
`
  const yaml = [gateway, read('destination-rule-all.yaml'), services, reviewsVs, canaryVs].join('\n---\n')
  const f = await startFerry(yaml)
  t.teardown(() => f.stop())
  const agent = new http.Agent({ keepAlive: true, maxSockets: 8 })
  t.teardown(() => agent.destroy())

  t.test('productpage paths', async t => {
    for (const path of ['/productpage', '/static/x', '/api/v1/products', '/api/v1/products/1/reviews', '/login', '/logout']) {
      const r = await get(agent, f.port, path, 'bookinfo.example.com')
      t.equal(r.status, 200, `${path} status`)
      t.equal(r.body, 'productpage', `${path} served by productpage`)
    }
    const seen = ups.productpage.requests.slice(-6).map(r => r.url)
    t.same(seen, ['/productpage', '/static/x', '/api/v1/products', '/api/v1/products/1/reviews', '/login', '/logout'], 'paths reach the upstream unchanged')
  })

  t.test('unmatched paths are 404 NR with an empty body', async t => {
    const before = ups.productpage.requests.length
    for (const path of ['/other', '/productpage/x', '/loginx', '/']) {
      const r = await get(agent, f.port, path, 'bookinfo.example.com')
      t.equal(r.status, 404, `${path} status`)
      t.equal(r.body, '', `${path} body`)
    }
    t.equal(ups.productpage.requests.length, before, 'nothing reached productpage')
  })

  t.test('reviews: end-user jason goes to v2, everyone else to v3', async t => {
    const host = 'reviews.default.svc.cluster.local'
    for (let i = 0; i < 20; i++) {
      t.equal((await get(agent, f.port, '/reviews/0', host, { 'end-user': 'jason' })).body, 'reviews-v2')
    }
    for (const headers of [{}, { 'end-user': 'json' }, { 'end-user': 'Jason' }, { 'end-user': 'jason2' }]) {
      for (let i = 0; i < 5; i++) t.equal((await get(agent, f.port, '/reviews/0', host, headers)).body, 'reviews-v3', JSON.stringify(headers))
    }
    t.equal(ups['reviews-v1'].requests.length, 0, 'v1 never chosen')
    t.ok(ups['reviews-v2'].requests.every(r => r.headers['end-user'] === 'jason'), 'only jason reached v2')
  })

  t.test('90/10 canary over 1000 requests', async t => {
    const v1Before = ups['reviews-v1'].requests.length
    const v2Before = ups['reviews-v2'].requests.length
    const counts: Record<string, number> = {}
    const N = 1000
    // 8 at a time over the keep-alive agent.
    let next = 0
    await Promise.all(Array.from({ length: 8 }, async () => {
      while (next < N) {
        next++
        const r = await get(agent, f.port, '/reviews/1', 'canary.bookinfo.example')
        counts[r.body] = (counts[r.body] ?? 0) + 1
      }
    }))
    t.equal((counts['reviews-v1'] ?? 0) + (counts['reviews-v2'] ?? 0), N, `only v1 and v2 answered: ${JSON.stringify(counts)}`)
    t.equal(ups['reviews-v1'].requests.length - v1Before, counts['reviews-v1'], 'v1 upstream saw its share')
    t.equal(ups['reviews-v2'].requests.length - v2Before, counts['reviews-v2'], 'v2 upstream saw its share')
    // Binomial(1000, 0.1): sd ≈ 9.5, so 50..150 is more than 5 sd either side.
    const v2 = counts['reviews-v2'] ?? 0
    t.ok(v2 >= 50 && v2 <= 150, `v2 share ${v2 / 10}% within 5%..15%`)
  })

  t.test('sidecar role: the sample reviews VirtualService as shipped (mesh-bound)', async t => {
    const yaml = [read('destination-rule-all.yaml'), services, read('virtual-service-reviews-jason-v2-v3.yaml')].join('\n---\n')
    const side = await startFerry(yaml, {}, { role: 'sidecar', sidecar: { outbound: 0, inbound: 0, health: -1, prometheus: -1 }, sidecarAddress: '127.0.0.1' })
    t.teardown(() => side.stop())
    const outbound = side.ferry.sidecarPorts.outbound
    t.not(outbound, 0, 'outbound listener bound')
    // Without iptables the outbound listener routes by Host, as an app using short names would.
    // Over a keep-alive agent: stop() in the teardown must close the idle connections it leaves.
    for (const host of ['reviews:9080', 'reviews.default.svc.cluster.local:9080', 'reviews.default:9080']) {
      t.equal((await get(agent, outbound, '/reviews/0', host, { 'end-user': 'jason' })).body, 'reviews-v2', `${host} jason -> v2`)
      t.equal((await get(agent, outbound, '/reviews/0', host)).body, 'reviews-v3', `${host} others -> v3`)
    }
    t.equal((await get(agent, outbound, '/ratings/0', 'ratings:9080')).body, 'ratings', 'a service without a VirtualService gets the default route')
  })
})
