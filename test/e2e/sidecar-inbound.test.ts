// The sidecar's inbound path for real: a client in another namespace calls the pod's address;
// PREROUTING (from `ferry init -b '*'`) REDIRECTs it to Ferry's 15006, which hands it to the app
// on 127.0.0.1:<port> from 127.0.0.6, at L7 for HTTP (request id, x-forwarded-for) and as TCP
// otherwise. The excluded ports (-d 15090,15021,15020) are reached directly.
// Needs root, iptables and iproute2 (CI has them); see sidecar-netns.ts for the topology.

import t from 'tap'
import { POD_IP, SRV_IP, PodNetwork, netnsSkipReason, writeConfig, type HttpResult, type Seen, type TcpResult } from './sidecar-netns'

const reason = netnsSkipReason()
if (reason !== null) {
  t.comment(`skipping sidecar inbound e2e: ${reason}`)
  t.pass('skipped', { skip: reason })
} else {
  const net = new PodNetwork()
  t.teardown(() => net.close())

  t.test('inbound capture through Ferry as uid 1337', async (t) => {
    net.setUp()
    // The app listens on every address, as a container does; only the capture puts Ferry in between.
    const app = await net.startServers(net.pod, '0.0.0.0', [{ port: 8080, name: 'app' }], [9000])
    net.init()
    const ferry = await net.startFerry(writeConfig(net, 'config', '# no resources: inbound needs none\n'))

    t.test('HTTP from another namespace reaches the app through Ferry', async (t) => {
      const before = await net.stats('^cluster\\.inbound\\|8080\\|\\|\\.upstream_rq_total$')
      const r = await net.call<HttpResult>(net.srv, { kind: 'http', host: POD_IP, port: 8080, path: '/productpage?u=1' })
      t.equal(r.status, 200, 'the app answered', { found: r, ferry: ferry.log() })
      const s = JSON.parse(r.body ?? '{}') as Seen
      t.equal(s.server, 'app')
      t.equal(s.url, '/productpage?u=1')
      t.equal(s.remote, '127.0.0.6', 'Ferry forwards inbound traffic from 127.0.0.6, as Istio does')
      t.equal(s.local, '127.0.0.1:8080', 'to the app on localhost at the original port')
      t.match(s.headers['x-request-id'], /^[0-9a-f-]{36}$/, 'Ferry gave the request an id')
      t.match(s.headers['x-forwarded-for'], new RegExp(`(^|, )${SRV_IP.replace(/\./g, '\\.')}$`), 'the client address is in x-forwarded-for')
      const after = await net.stats('^cluster\\.inbound\\|8080\\|\\|\\.upstream_rq_total$')
      const key = 'cluster.inbound|8080||.upstream_rq_total'
      t.equal((after.get(key) ?? 0) - (before.get(key) ?? 0), 1, "counted on Ferry's inbound cluster")
    })

    t.test('TCP from another namespace reaches the app through Ferry', async (t) => {
      const r = await net.call<TcpResult>(net.srv, { kind: 'tcp', host: POD_IP, port: 9000, send: 'inbound bytes' })
      t.same(r, { data: 'inbound bytes', closed: false, error: null })
      const accepted = app.stdout.split('\n').filter(l => l.includes('"event":"tcp"')).map(l => JSON.parse(l) as { remote: string })
      t.same(accepted.map(a => a.remote), ['127.0.0.6'], 'the app accepted one connection, from 127.0.0.6')
      const stats = await net.stats('^cluster\\.inbound\\|9000\\|\\|\\.upstream_cx_total$')
      t.equal(stats.get('cluster.inbound|9000||.upstream_cx_total'), 1, "the echo went through Ferry's inbound cluster")
    })

    t.test('excluded inbound ports are not captured: kubelet reaches 15021 directly', async (t) => {
      const r = await net.call<HttpResult>(net.srv, { kind: 'http', host: POD_IP, port: 15021, path: '/healthz/ready' })
      t.equal(r.status, 200)
    })
  })
}
