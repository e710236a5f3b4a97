// tcp.maxConnectionDuration was parsed but never enforced: a pooled upstream connection lived
// as long as the upstream kept it. Envoy drains a connection once it reaches the duration.
import t from 'tap'
import type { Socket } from 'node:net'
import { GATEWAY, request, serviceEntry, startFerry, startUpstream, stat } from '../helpers/harness'

t.test('maxConnectionDuration closes an idle upstream connection and the next request opens a new one', async t => {
  const sockets = new Set<Socket>()
  const up = await startUpstream((req, res) => {
    sockets.add(req.socket)
    res.end('ok')
  })
  t.teardown(() => up.close())
  const ferry = await startFerry(GATEWAY + serviceEntry('dur.default.svc.cluster.local', 8000, [{ port: up.port }]) + `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: dur}
spec:
  hosts: ["*"]
  gateways: [gw]
  http:
  - route: [{destination: {host: dur.default.svc.cluster.local}}]
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: dur}
spec:
  host: dur.default.svc.cluster.local
  trafficPolicy:
    connectionPool:
      tcp: {maxConnectionDuration: 300ms}
`)
  t.teardown(() => ferry.stop())
  const cluster = 'cluster.outbound|8000||dur.default.svc.cluster.local'
  t.equal((await request(ferry.port, '/')).status, 200)
  t.equal((await request(ferry.port, '/')).status, 200)
  t.equal(sockets.size, 1, 'two requests in a row share one pooled connection')
  const deadline = Date.now() + 5000
  while ((await stat(ferry, `${cluster}.upstream_cx_max_duration_reached`)) !== 1 && Date.now() < deadline) {
    await new Promise(resolve => setTimeout(resolve, 50))
  }
  t.equal(await stat(ferry, `${cluster}.upstream_cx_max_duration_reached`), 1, 'the connection reached its duration')
  t.equal((await request(ferry.port, '/')).status, 200)
  t.equal(sockets.size, 2, 'the next request came on a new connection')
})
