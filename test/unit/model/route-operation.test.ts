// Span names were `<authority>:<listener port>/*` (a Host with a port gave `host:8080:8080/*`);
// Istio names them after the route (pilot route.go getRouteOperation).
import t from 'tap'
import { loadText, emptyConfigSet } from '../../../src/config/load'
import { compileSnapshot } from '../../../src/model/compile'
import type { Diagnostic } from '../../../src/config/types'

const YAML = `apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: gw}
spec:
  servers:
  - port: {number: 8080, name: http, protocol: HTTP}
    hosts: ["*"]
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: a}
spec:
  hosts: [a.example.com]
  ports: [{number: 9080, name: http, protocol: HTTP}]
  resolution: STATIC
  endpoints: [{address: 127.0.0.1}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: shop}
spec:
  hosts: ["*"]
  gateways: [gw]
  http:
  - match: [{uri: {prefix: /api}}]
    route: [{destination: {host: a.example.com}}]
  - match: [{uri: {exact: /login}}]
    route: [{destination: {host: a.example.com, port: {number: 9080}}}]
  - match: [{uri: {regex: "/v[0-9]+/.*"}}]
    route: [{destination: {host: a.example.com}}]
  - match: [{headers: {x-canary: {exact: "1"}}}]
    route:
    - {destination: {host: a.example.com}, weight: 90}
    - {destination: {host: b.example.com, port: {number: 80}}, weight: 10}
  - route: [{destination: {host: a.example.com}}]
`

t.test('route operations as Istio names them', async t => {
  const config = emptyConfigSet()
  const diagnostics: Diagnostic[] = []
  loadText(YAML, 'ops.yaml', { namespace: 'default' }, config, diagnostics)
  t.same(diagnostics.filter(d => d.severity === 'error'), [])
  const snap = compileSnapshot(config, diagnostics, { role: 'gateway', namespace: 'default', labels: {} }, 1)
  const ops = snap.gatewayListeners[0].routeTable.virtualHosts[0].routes.map(r => r.operation)
  t.same(ops, [
    'a.example.com:9080/api*', // prefix: the prefix and *
    'a.example.com:9080/login', // exact: the path
    'a.example.com:9080/v[0-9]+/.*', // regex: the pattern
    'shop:8080/*', // several destinations: the VirtualService name and the listener port
    'a.example.com:9080/*' // no uri match
  ])
})
