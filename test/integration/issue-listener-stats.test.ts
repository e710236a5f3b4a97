// listener.<address>.downstream_cx_* were never recorded, and a sidecar's HTTP connections were
// counted twice in http.<prefix>.downstream_cx_total (at accept, and again when handed to the
// HTTP server).
import t from 'tap'
import { GATEWAY, request, serviceEntry, startFerry, startUpstream, stat } from '../helpers/harness'

const VS = `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: ls}
spec:
  hosts: ["*"]
  gateways: [gw]
  http:
  - route: [{destination: {host: ls.default.svc.cluster.local}}]
`

t.test('gateway: one listener and one HTTP connection count per accepted connection', async t => {
  const up = await startUpstream()
  t.teardown(() => up.close())
  const f = await startFerry(GATEWAY + serviceEntry('ls.default.svc.cluster.local', 8000, [{ port: up.port }]) + VS)
  t.teardown(() => f.stop())
  for (let i = 0; i < 3; i++) t.equal((await request(f.port, '/')).status, 200)
  t.equal(await stat(f, `listener.0.0.0.0_${f.port}.downstream_cx_total`), 3)
  t.equal(await stat(f, `http.outbound_0.0.0.0_${f.port}.downstream_cx_total`), 3)
})

t.test('sidecar outbound: HTTP connections are counted once', async t => {
  const up = await startUpstream()
  t.teardown(() => up.close())
  const f = await startFerry(serviceEntry('ls.default.svc.cluster.local', 8000, [{ port: up.port }]), {}, {
    role: 'sidecar',
    sidecar: { outbound: 0, inbound: 0, health: -1, prometheus: -1 },
    sidecarAddress: '127.0.0.1'
  })
  t.teardown(() => f.stop())
  const port = f.ferry.sidecarPorts.outbound
  for (let i = 0; i < 3; i++) {
    t.equal((await request(port, '/', { host: 'ls.default.svc.cluster.local:8000' })).status, 200)
  }
  t.equal(await stat(f, `listener.0.0.0.0_${port}.downstream_cx_total`), 3)
  t.equal(await stat(f, `http.outbound_0.0.0.0_${port}.downstream_cx_total`), 3, 'not 6')
})
