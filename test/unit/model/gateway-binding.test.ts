// The compiler resolved VirtualService `gateways` by hand and knew only `name` and `ns/name`:
// the legacy `name.namespace`, which validation accepts, bound to nothing.
import t from 'tap'
import { loadText, emptyConfigSet } from '../../../src/config/load'
import { compileSnapshot } from '../../../src/model/compile'
import type { Diagnostic } from '../../../src/config/types'

function routesFor (gatewayRef: string): number {
  const yaml = `apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: gw, namespace: edge}
spec:
  servers:
  - port: {number: 8080, name: http, protocol: HTTP}
    hosts: ["*/*"]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: vs, namespace: edge}
spec:
  hosts: [shop.example.com]
  gateways: [${JSON.stringify(gatewayRef)}]
  http:
  - directResponse: {status: 200}
`
  const config = emptyConfigSet()
  const diagnostics: Diagnostic[] = []
  loadText(yaml, 'gw.yaml', { namespace: 'default' }, config, diagnostics)
  if (diagnostics.some(d => d.severity === 'error')) throw new Error(JSON.stringify(diagnostics))
  const snap = compileSnapshot(config, diagnostics, { role: 'gateway', namespace: 'edge', labels: {} }, 1)
  return snap.gatewayListeners[0]?.routeTable.virtualHosts.reduce((n, v) => n + v.routes.length, 0) ?? 0
}

t.test('every form Istio accepts for a gateway reference binds', async t => {
  t.equal(routesFor('gw'), 1, 'short name, the VirtualService namespace')
  t.equal(routesFor('edge/gw'), 1, 'namespace/name')
  t.equal(routesFor('gw.edge'), 1, 'legacy name.namespace')
  t.equal(routesFor('other/gw'), 0, 'another namespace does not bind')
})
