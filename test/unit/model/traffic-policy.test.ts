import t from 'tap'
import type { DestinationRuleResource, DestinationRuleSpec } from '../../../src/config/types'
import { connectionLimits, findDestinationRule, outlierSpec, resolvePolicy } from '../../../src/model/traffic-policy'

const dr = (spec: DestinationRuleSpec, name = 'dr', namespace = 'default'): DestinationRuleResource => ({
  apiVersion: 'networking.istio.io/v1',
  kind: 'DestinationRule',
  metadata: { name, namespace },
  spec,
  source: { file: 'test.yaml', document: 0 }
})

t.test('no connectionPool: unlimited breakers, Istio/Envoy timeouts', async t => {
  const l = connectionLimits(undefined)
  t.equal(l.maxConnections, Infinity)
  t.equal(l.maxPendingRequests, Infinity)
  t.equal(l.maxRequests, Infinity)
  t.equal(l.maxRetries, Infinity)
  t.equal(l.maxRequestsPerConnection, 0, 'unlimited')
  t.equal(l.connectTimeoutMs, 10_000, 'tcp.connectTimeout defaults to 10 s')
  t.equal(l.idleTimeoutMs, 3_600_000, 'http.idleTimeout defaults to 1 h')
  t.equal(l.maxConnectionDurationMs, 0)
  t.equal(l.tcpKeepalive, null)
})

t.test('Istio fields map to Envoy circuit breaker thresholds', async t => {
  const l = connectionLimits({
    tcp: { maxConnections: 1, connectTimeout: '250ms', maxConnectionDuration: '1m', tcpKeepalive: { time: '30s' } },
    http: { http1MaxPendingRequests: 2, http2MaxRequests: 3, maxRetries: 4, maxRequestsPerConnection: 1, idleTimeout: '15s' }
  })
  t.equal(l.maxConnections, 1, 'tcp.maxConnections -> max_connections')
  t.equal(l.maxPendingRequests, 2, 'http.http1MaxPendingRequests -> max_pending_requests')
  t.equal(l.maxRequests, 3, 'http.http2MaxRequests -> max_requests')
  t.equal(l.maxRetries, 4, 'http.maxRetries -> max_retries')
  t.equal(l.maxRequestsPerConnection, 1)
  t.equal(l.connectTimeoutMs, 250)
  t.equal(l.idleTimeoutMs, 15_000)
  t.equal(l.maxConnectionDurationMs, 60_000)
  t.same(l.tcpKeepalive, { timeMs: 30_000, intervalMs: 75_000, probes: 9 }, 'Linux defaults for unset keepalive fields')
})

t.test('zero limits mean unset (proto3), i.e. unlimited', async t => {
  const l = connectionLimits({ tcp: { maxConnections: 0 }, http: { http1MaxPendingRequests: 0, http2MaxRequests: 0, maxRetries: 0 } })
  t.equal(l.maxConnections, Infinity)
  t.equal(l.maxPendingRequests, Infinity)
  t.equal(l.maxRequests, Infinity)
  t.equal(l.maxRetries, Infinity)
})

t.test('outlierDetection absent: no detector', async t => {
  t.equal(outlierSpec(undefined), null)
})

t.test('outlierDetection defaults are Envoy\'s as Istio leaves them', async t => {
  t.same(outlierSpec({}), {
    consecutive5xx: 5,
    consecutiveGatewayErrors: null,
    consecutiveLocalOriginFailures: null,
    splitExternalLocalOriginErrors: false,
    intervalMs: 10_000,
    baseEjectionTimeMs: 30_000,
    maxEjectionPercent: 10,
    minHealthPercent: 0
  })
})

t.test('outlierDetection fields', async t => {
  const o = outlierSpec({
    consecutive5xxErrors: 1, consecutiveGatewayErrors: 2, interval: '1s', baseEjectionTime: '3m', maxEjectionPercent: 100, minHealthPercent: 50
  })
  t.equal(o?.consecutive5xx, 1)
  t.equal(o?.consecutiveGatewayErrors, 2)
  t.equal(o?.intervalMs, 1000)
  t.equal(o?.baseEjectionTimeMs, 180_000)
  t.equal(o?.maxEjectionPercent, 100)
  t.equal(o?.minHealthPercent, 50)
})

t.test('consecutive5xxErrors: 0 turns 5xx ejection off; consecutiveErrors is the deprecated name', async t => {
  t.equal(outlierSpec({ consecutive5xxErrors: 0, consecutiveGatewayErrors: 3 })?.consecutive5xx, null)
  t.equal(outlierSpec({ consecutiveErrors: 7 })?.consecutive5xx, 7)
  t.equal(outlierSpec({ maxEjectionPercent: 0 })?.maxEjectionPercent, 10, '0 is unset: Envoy default')
})

t.test('local-origin failures count separately only with splitExternalLocalOriginErrors', async t => {
  t.equal(outlierSpec({ consecutiveLocalOriginFailures: 2 })?.consecutiveLocalOriginFailures, null)
  const split = outlierSpec({ splitExternalLocalOriginErrors: true, consecutiveLocalOriginFailures: 2 })
  t.equal(split?.splitExternalLocalOriginErrors, true)
  t.equal(split?.consecutiveLocalOriginFailures, 2)
  t.equal(outlierSpec({ splitExternalLocalOriginErrors: true })?.consecutiveLocalOriginFailures, 5, 'Envoy default')
})

const rule = dr({
  host: 'reviews',
  trafficPolicy: {
    connectionPool: { tcp: { maxConnections: 100 } },
    outlierDetection: { consecutive5xxErrors: 7 },
    loadBalancer: { simple: 'ROUND_ROBIN' },
    portLevelSettings: [{ port: { number: 9080 }, connectionPool: { tcp: { maxConnections: 10 } } }]
  },
  subsets: [
    { name: 'v1', labels: { version: 'v1' } },
    {
      name: 'v2',
      labels: { version: 'v2' },
      trafficPolicy: { loadBalancer: { simple: 'RANDOM' } }
    },
    {
      name: 'v3',
      labels: { version: 'v3' },
      trafficPolicy: {
        connectionPool: { tcp: { maxConnections: 5 } },
        portLevelSettings: [{ port: { number: 9080 }, outlierDetection: { consecutive5xxErrors: 1 } }]
      }
    }
  ]
})

t.test('rule-level policy applies to every port and subset without their own', async t => {
  const p = resolvePolicy(rule, 8080, '')
  t.equal(p.connectionPool?.tcp?.maxConnections, 100)
  t.equal(p.outlierDetection?.consecutive5xxErrors, 7)
  t.equal(p.loadBalancer?.simple, 'ROUND_ROBIN')
})

t.test('portLevelSettings replace the field group for that port only', async t => {
  const p = resolvePolicy(rule, 9080, '')
  t.equal(p.connectionPool?.tcp?.maxConnections, 10)
  t.equal(p.outlierDetection?.consecutive5xxErrors, 7, 'other groups stay')
  t.equal(resolvePolicy(rule, 9081, '').connectionPool?.tcp?.maxConnections, 100)
})

t.test('a subset without a policy inherits the rule (with its port settings)', async t => {
  t.equal(resolvePolicy(rule, 9080, 'v1').connectionPool?.tcp?.maxConnections, 10)
  t.equal(resolvePolicy(rule, 8080, 'v1').connectionPool?.tcp?.maxConnections, 100)
})

t.test('a subset policy replaces only the groups it sets', async t => {
  const v2 = resolvePolicy(rule, 9080, 'v2')
  t.equal(v2.loadBalancer?.simple, 'RANDOM')
  t.equal(v2.connectionPool?.tcp?.maxConnections, 10)
  t.equal(v2.outlierDetection?.consecutive5xxErrors, 7)
})

t.test("a subset's own group and port settings override the rule's port settings", async t => {
  const v3 = resolvePolicy(rule, 9080, 'v3')
  t.equal(v3.connectionPool?.tcp?.maxConnections, 5, "subset group beats the rule's port-level group")
  t.equal(v3.outlierDetection?.consecutive5xxErrors, 1, 'subset port-level beats everything')
  const other = resolvePolicy(rule, 8080, 'v3')
  t.equal(other.outlierDetection?.consecutive5xxErrors, 7)
  t.equal(other.connectionPool?.tcp?.maxConnections, 5)
})

t.test('an unknown subset or no rule yields nothing', async t => {
  t.equal(resolvePolicy(rule, 9080, 'nope').connectionPool?.tcp?.maxConnections, 10)
  t.same(resolvePolicy(null, 9080, ''), { loadBalancer: undefined, connectionPool: undefined, outlierDetection: undefined })
})

t.test('findDestinationRule: exact host first, then the longest wildcard', async t => {
  const exact = dr({ host: 'reviews' }, 'exact')
  const wild = dr({ host: '*.default.svc.cluster.local' }, 'wild')
  const wider = dr({ host: '*.svc.cluster.local' }, 'wider')
  t.equal(findDestinationRule([wider, wild, exact], 'reviews.default.svc.cluster.local')?.metadata.name, 'exact')
  t.equal(findDestinationRule([wider, wild], 'ratings.default.svc.cluster.local')?.metadata.name, 'wild')
  t.equal(findDestinationRule([wider], 'ratings.other.svc.cluster.local')?.metadata.name, 'wider')
  t.equal(findDestinationRule([exact], 'ratings.default.svc.cluster.local'), null)
})

t.test('idleTimeout: 0s means disabled and is kept as 0 (the pool turns it into its own cap)', async t => {
  t.equal(connectionLimits({ http: { idleTimeout: '0s' } }).idleTimeoutMs, 0)
})
