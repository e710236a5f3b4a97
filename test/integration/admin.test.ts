// The admin API against a running gateway: Envoy's paths, formats and the stats an operator reads.

import t from 'tap'
import http from 'node:http'
import { startUpstream, startFerry, request, admin, stat, serviceEntry, GATEWAY } from '../helpers/harness'

const VS = `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: admin-vs}
spec:
  hosts: ["*"]
  gateways: [gw]
  http:
  - route: [{destination: {host: admin.test}}]
`
const CLUSTER = 'outbound|80||admin.test'

t.test('admin API', async t => {
  const up = await startUpstream((_req, res) => res.end('ok'))
  let upstreamConnections = 0
  up.server.on('connection', () => { upstreamConnections++ })
  t.teardown(() => up.close())
  const f = await startFerry(GATEWAY + serviceEntry('admin.test', 80, [{ port: up.port }]) + VS)
  t.teardown(() => f.stop())

  t.test('/ready', async t => {
    const r = await admin(f, '/ready')
    t.equal(r.status, 200)
    t.equal(r.body.trim(), 'LIVE')
  })

  t.test('/server_info', async t => {
    const r = await admin(f, '/server_info')
    t.equal(r.status, 200)
    t.match(r.headers['content-type'], /application\/json/)
    const info = JSON.parse(r.body) as { state: string, node: { id: string }, config_version: number }
    t.equal(info.state, 'LIVE')
    t.match(info.node.id, /^router~/, 'gateway node id')
    t.equal(info.config_version, f.ferry.snapshot.version)
  })

  t.test('/config_dump', async t => {
    const r = await admin(f, '/config_dump')
    t.equal(r.status, 200)
    const dump = JSON.parse(r.body) as {
      resources: { virtual_services: Array<{ metadata: { name: string } }>, service_entries: Array<{ spec: { hosts: string[] } }>, gateways: Array<{ metadata: { name: string } }> }
      clusters: Array<{ name: string, endpoints: Array<{ port: number }> }>
      listeners: Array<{ port: number, route_config: { virtual_hosts: Array<{ routes: Array<{ action: { route?: Array<{ cluster: string }> } }> }> } }>
    }
    t.same(dump.resources.virtual_services.map(v => v.metadata.name), ['admin-vs'])
    t.same(dump.resources.gateways.map(g => g.metadata.name), ['gw'])
    t.same(dump.resources.service_entries.map(s => s.spec.hosts), [['admin.test']])
    const cluster = dump.clusters.find(c => c.name === CLUSTER)
    t.ok(cluster, 'cluster present')
    t.same(cluster?.endpoints.map(e => e.port), [up.port], 'with its endpoint')
    const listener = dump.listeners.find(l => l.port === f.port)
    t.ok(listener, 'gateway listener present')
    t.equal(listener?.route_config.virtual_hosts[0].routes[0].action.route?.[0].cluster, CLUSTER, 'its route points at the cluster')
  })

  t.test('/clusters text and json', async t => {
    const text = (await admin(f, '/clusters')).body
    t.match(text, `${CLUSTER}::127.0.0.1:${up.port}::health_flags::healthy\n`)
    t.match(text, `${CLUSTER}::default_priority::max_connections::4294967295\n`)
    const json = JSON.parse((await admin(f, '/clusters?format=json')).body) as {
      cluster_statuses: Array<{ name: string, host_statuses: Array<{ address: { socket_address: { address: string, port_value: number } } }> }>
    }
    const c = json.cluster_statuses.find(s => s.name === CLUSTER)
    t.ok(c)
    t.same(c?.host_statuses.map(h => h.address.socket_address), [{ address: '127.0.0.1', port_value: up.port }])
  })

  t.test('/listeners', async t => {
    const text = (await admin(f, '/listeners')).body
    t.match(text, `0.0.0.0_${f.port}::127.0.0.1:${f.port}`)
    const json = JSON.parse((await admin(f, '/listeners?format=json')).body) as { listener_statuses: Array<{ name: string, local_address: { socket_address: { port_value: number } } }> }
    t.same(json.listener_statuses.map(l => l.local_address.socket_address.port_value), [f.port])
  })

  t.test('POST /logging', async t => {
    t.equal(f.ferry.log.level, 'error')
    let r = await admin(f, '/logging?level=debug', 'GET')
    t.equal(r.status, 404, 'GET does not change anything')
    t.equal(f.ferry.log.level, 'error')
    r = await admin(f, '/logging?level=debug', 'POST')
    t.equal(r.status, 200)
    t.match(r.body, /ferry: debug/)
    t.equal(f.ferry.log.level, 'debug')
    r = await admin(f, '/logging?level=loud', 'POST')
    t.equal(r.status, 400, 'unknown level refused')
    t.equal(f.ferry.log.level, 'debug')
    await admin(f, '/logging?level=error', 'POST')
  })

  t.test('/stats after N requests', async t => {
    t.equal(await stat(f, `cluster.${CLUSTER}.upstream_rq_total`), 0, 'nothing yet')
    const N = 7
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 })
    t.teardown(() => agent.destroy())
    for (let i = 0; i < N; i++) {
      await new Promise<void>((resolve, reject) => {
        http.get({ host: '127.0.0.1', port: f.port, path: `/n/${i}`, agent, headers: { host: 'admin.test' } }, res => {
          res.resume()
          res.on('end', resolve)
        }).on('error', reject)
      })
    }
    t.equal(await stat(f, `cluster.${CLUSTER}.upstream_rq_total`), N, `upstream_rq_total: ${N}`)
    t.equal(await stat(f, `cluster.${CLUSTER}.upstream_rq_200`), N, `upstream_rq_200: ${N}`)
    t.equal(await stat(f, `cluster.${CLUSTER}.upstream_rq_2xx`), N)
    t.equal(await stat(f, `cluster.${CLUSTER}.upstream_rq_active`), 0, 'upstream_rq_active back to 0')
    t.equal(upstreamConnections, 1, 'sequential requests reused one upstream connection')
    t.equal(await stat(f, `cluster.${CLUSTER}.upstream_cx_active`), 1, 'upstream_cx_active: the pooled connection')
    t.equal(await stat(f, `cluster.${CLUSTER}.upstream_cx_total`), 1)
    t.equal(await stat(f, `http.outbound_0.0.0.0_${f.port}.downstream_rq_total`), N)

    const filtered = (await admin(f, '/stats?filter=upstream_rq_total')).body.trim().split('\n')
    t.ok(filtered.length > 0 && filtered.every(l => l.includes('upstream_rq_total')), '?filter= keeps matching lines only')
    const prom = (await admin(f, '/stats/prometheus')).body
    t.match(prom, `envoy_cluster_upstream_rq_total{cluster_name="${CLUSTER}"} ${N}`)
    const json = JSON.parse((await admin(f, '/stats?format=json')).body) as { stats: Array<{ name: string, value: number }> }
    t.same(json.stats.find(s => s.name === `cluster.${CLUSTER}.upstream_rq_total`), { name: `cluster.${CLUSTER}.upstream_rq_total`, value: N })
  })

  t.test('unknown path', async t => {
    const r = await admin(f, '/nope')
    t.equal(r.status, 404)
    t.equal((await request(f.port, '/still-serving', { host: 'admin.test' })).status, 200)
  })
})
