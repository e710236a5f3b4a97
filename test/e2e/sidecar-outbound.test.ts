// The sidecar's outbound path for real: an app in a "pod" network namespace calls service VIPs
// that nothing serves; `ferry init` REDIRECTs its traffic to Ferry (uid 1337, port 15001), which
// reads the original destination and answers with the VirtualService's route. Unknown
// destinations pass through under ALLOW_ANY and are refused under REGISTRY_ONLY.
// Needs root, iptables and iproute2 (CI has them); see sidecar-netns.ts for the topology.

import t from 'tap'
import { POD_IP, SRV_IP, PodNetwork, netnsSkipReason, writeConfig, type HttpResult, type Seen, type TcpResult } from './sidecar-netns'

const APP_UID = 1000

const CONFIG = `
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: reviews}
spec:
  hosts: [reviews.default.svc.cluster.local]
  addresses: [10.96.0.20]
  location: MESH_INTERNAL
  ports: [{number: 9080, name: http, protocol: HTTP}]
  resolution: STATIC
  endpoints:
  - {address: ${SRV_IP}, ports: {http: 9081}, labels: {app: reviews, version: v1}}
  - {address: ${SRV_IP}, ports: {http: 9082}, labels: {app: reviews, version: v2}}
  - {address: ${SRV_IP}, ports: {http: 9083}, labels: {app: reviews, version: v3}}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: reviews}
spec:
  host: reviews.default.svc.cluster.local
  subsets:
  - {name: v1, labels: {version: v1}}
  - {name: v2, labels: {version: v2}}
  - {name: v3, labels: {version: v3}}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews}
spec:
  hosts: [reviews]
  http:
  - match: [{headers: {end-user: {exact: jason}}}]
    route: [{destination: {host: reviews, subset: v2}}]
  - route: [{destination: {host: reviews, subset: v3}}]
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: ratings}
spec:
  hosts: [ratings.default.svc.cluster.local]
  addresses: [10.96.0.21]
  location: MESH_INTERNAL
  ports: [{number: 9080, name: http, protocol: HTTP}]
  resolution: STATIC
  endpoints:
  - {address: ${SRV_IP}, ports: {http: 9084}, labels: {app: ratings, version: v1}}
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: echo}
spec:
  hosts: [echo.default.svc.cluster.local]
  addresses: [10.96.0.30]
  location: MESH_INTERNAL
  ports: [{number: 9000, name: tcp-echo, protocol: TCP}]
  resolution: STATIC
  endpoints:
  - {address: ${SRV_IP}}
`

const reason = netnsSkipReason()
if (reason !== null) {
  t.comment(`skipping sidecar outbound e2e: ${reason}`)
  t.pass('skipped', { skip: reason })
} else {
  const net = new PodNetwork()
  t.teardown(() => net.close())

  t.test('outbound capture through Ferry as uid 1337', async (t) => {
    net.setUp()
    const servers = await net.startServers(net.srv, SRV_IP, [
      { port: 9081, name: 'reviews-v1' }, { port: 9082, name: 'reviews-v2' }, { port: 9083, name: 'reviews-v3' },
      { port: 9084, name: 'ratings-v1' }, { port: 9090, name: 'plain' }
    ], [9000])
    net.init()
    const config = writeConfig(net, 'config', CONFIG)
    let ferry = await net.startFerry(config)

    const http = (host: string, port: number, headers: Record<string, string> = {}, path = '/'): Promise<HttpResult> =>
      net.call<HttpResult>(net.pod, { kind: 'http', host, port, path, headers }, APP_UID)
    const tcp = (host: string, port: number, send: string): Promise<TcpResult> =>
      net.call<TcpResult>(net.pod, { kind: 'tcp', host, port, send }, APP_UID)
    const seen = (r: HttpResult): Seen => {
      if (r.status !== 200 || r.body === undefined) throw new Error(`expected 200, got ${JSON.stringify(r)}\n${ferry.log()}`)
      return JSON.parse(r.body) as Seen
    }

    t.test('a VIP gets the VirtualService default route (subset v3)', async (t) => {
      const r = await http('10.96.0.20', 9080, {}, '/reviews/1')
      const s = seen(r)
      t.equal(s.server, 'reviews-v3')
      t.equal(s.url, '/reviews/1')
      t.match(s.headers['x-request-id'], /^[0-9a-f-]{36}$/, 'Ferry gave the request an id on the way out')
      t.equal(s.remote, POD_IP, 'the upstream sees the pod address')
      t.ok(r.headers?.['x-envoy-upstream-service-time'] !== undefined, 'the answer came through the proxy')
    })

    t.test('header-routed: end-user: jason goes to subset v2', async (t) => {
      t.equal(seen(await http('10.96.0.20', 9080, { 'end-user': 'jason' })).server, 'reviews-v2')
      t.equal(seen(await http('10.96.0.20', 9080, { 'end-user': 'paul' })).server, 'reviews-v3')
    })

    t.test('the Host header picks the service (short name, FQDN) on the VIP port', async (t) => {
      t.equal(seen(await http('10.96.0.20', 9080, { host: 'reviews:9080', 'end-user': 'jason' })).server, 'reviews-v2')
      t.equal(seen(await http('10.96.0.20', 9080, { host: 'reviews.default.svc.cluster.local' })).server, 'reviews-v3')
    })

    t.test('a second VIP on the same port reaches its own service', async (t) => {
      t.equal(seen(await http('10.96.0.21', 9080)).server, 'ratings-v1')
    })

    t.test('TCP echo through a VIP (ServiceEntry port protocol TCP)', async (t) => {
      const r = await tcp('10.96.0.30', 9000, 'hello through the sidecar')
      t.same(r, { data: 'hello through the sidecar', closed: false, error: null })
      const stats = await net.stats('echo\\.default\\.svc\\.cluster\\.local\\.upstream_cx_total$')
      t.same([...stats], [['cluster.outbound|9000||echo.default.svc.cluster.local.upstream_cx_total', 1]], 'the echo went through the service cluster')
    })

    t.test('ALLOW_ANY: unregistered destinations pass through the capture', async (t) => {
      const filter = 'PassthroughCluster\\.upstream_(rq|cx)_total$'
      const before = await net.stats(filter)
      const r = await http(SRV_IP, 9090, {}, '/direct')
      const s = seen(r)
      t.equal(s.server, 'plain')
      t.equal(s.url, '/direct')
      t.ok(s.headers['x-request-id'] !== undefined, 'the HTTP passthrough went through the router')
      const echo = await tcp(SRV_IP, 9000, 'not http at all')
      t.same(echo, { data: 'not http at all', closed: false, error: null })
      const after = await net.stats(filter)
      const delta = (name: string): number => (after.get(`cluster.PassthroughCluster.${name}`) ?? 0) - (before.get(`cluster.PassthroughCluster.${name}`) ?? 0)
      t.equal(delta('upstream_rq_total'), 1, 'one HTTP request through PassthroughCluster')
      t.equal(delta('upstream_cx_total'), 2, 'two upstream connections: the HTTP one and the TCP one')
    })

    t.test('REGISTRY_ONLY: HTTP to an unknown destination is 502, TCP is closed', async (t) => {
      ferry.proc.child.kill('SIGTERM')
      const exit = await ferry.proc.exited
      t.equal(exit.code, 0, 'the ALLOW_ANY Ferry stopped cleanly')
      ferry = await net.startFerry(config, ['--outbound-traffic-policy', 'REGISTRY_ONLY'])

      const r = await http(SRV_IP, 9090, {}, '/direct')
      t.equal(r.status, 502, `unknown HTTP destination: ${JSON.stringify(r)}`)
      const echo = await tcp(SRV_IP, 9000, 'blocked')
      t.equal(echo.closed, true, 'the TCP connection was closed')
      t.equal(echo.data, '', 'nothing came back from the unknown destination')
      t.equal(servers.stdout.split('\n').filter(l => l.includes('"/direct"')).length, 1, 'only the ALLOW_ANY request reached the server')
      t.equal(seen(await http('10.96.0.20', 9080, { 'end-user': 'jason' })).server, 'reviews-v2', 'registered services still work')
      t.same(await tcp('10.96.0.30', 9000, 'still echoing'), { data: 'still echoing', closed: false, error: null })
    })
  })
}
