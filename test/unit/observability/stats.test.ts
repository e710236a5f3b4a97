import t from 'tap'
import { hasPromtool, promtoolCheck, promtoolSkip } from '../../helpers/promtool'
import { Counter as PromCounter, Registry } from 'prom-client'
import {
  StatsStore, ENVOY_DEFAULT_BUCKETS, ISTIO_STATIC_LABELS,
  workloadIdentity, workloadNameFromPod, parsePeerMetadata, encodePeerMetadata, encodeProtobufStruct,
  type IstioStaticLabels
} from '../../../src/observability/stats'

const REVIEWS = 'outbound|9080|v2|reviews.default.svc.cluster.local'
const HCM = 'outbound_0.0.0.0_8080'

/** The value of the one text `/stats` line for `name`, or undefined. */
function textValue (text: string, name: string): string | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${name}: `))
  return line?.slice(name.length + 2)
}

/** Exact Prometheus sample line lookup: `family{labels} value`. */
function hasSample (text: string, line: string): boolean {
  return text.split('\n').includes(line)
}

function labelsOf (line: string): Record<string, string> {
  const inside = line.slice(line.indexOf('{') + 1, line.lastIndexOf('}'))
  const out: Record<string, string> = {}
  for (const m of inside.matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) out[m[1]] = m[2]
  return out
}

function istioLabels (over: Partial<IstioStaticLabels> = {}): IstioStaticLabels {
  return {
    reporter: 'source',
    source_workload: 'productpage-v1',
    source_workload_namespace: 'default',
    source_principal: 'spiffe://cluster.local/ns/default/sa/bookinfo-productpage',
    source_app: 'productpage',
    source_version: 'v1',
    source_canonical_service: 'productpage',
    source_canonical_revision: 'v1',
    source_cluster: 'Kubernetes',
    destination_workload: 'reviews-v2',
    destination_workload_namespace: 'default',
    destination_principal: 'spiffe://cluster.local/ns/default/sa/bookinfo-reviews',
    destination_app: 'reviews',
    destination_version: 'v2',
    destination_service: 'reviews.default.svc.cluster.local',
    destination_service_name: 'reviews',
    destination_service_namespace: 'default',
    destination_canonical_service: 'reviews',
    destination_canonical_revision: 'v2',
    destination_cluster: 'Kubernetes',
    request_protocol: 'http',
    connection_security_policy: 'unknown',
    ...over
  }
}

t.test('counter values are exact in text, json and prometheus forms', async (t) => {
  const store = new StatsStore()
  const c = store.cluster(REVIEWS)
  c.upstream_rq_total.inc()
  c.upstream_rq_total.inc(4)
  c.upstream_cx_connect_fail.inc(2)
  c.upstream_rq_active.inc(3)
  c.upstream_rq_active.dec()
  c.circuit_breakers.remaining_rq.set(1023)
  c.outlier_detection.ejections_enforced_consecutive_5xx.inc()
  t.equal(c.upstream_rq_total.value, 5)
  t.equal(store.cluster(REVIEWS), c, 'cached per name')

  const text = store.envoyText()
  t.equal(textValue(text, `cluster.${REVIEWS}.upstream_rq_total`), '5')
  t.equal(textValue(text, `cluster.${REVIEWS}.upstream_cx_connect_fail`), '2')
  t.equal(textValue(text, `cluster.${REVIEWS}.upstream_rq_active`), '2')
  t.equal(textValue(text, `cluster.${REVIEWS}.circuit_breakers.default.remaining_rq`), '1023')
  t.equal(textValue(text, `cluster.${REVIEWS}.outlier_detection.ejections_enforced_consecutive_5xx`), '1')
  t.equal(textValue(text, `cluster.${REVIEWS}.upstream_rq_retry`), '0', 'declared stats appear before first use')

  const scalarNames = text.split('\n').filter((l) => l !== '' && !l.includes(': P0(') && !l.endsWith('No recorded values')).map((l) => l.slice(0, l.lastIndexOf(': ')))
  t.same(scalarNames, [...scalarNames].sort(), 'counters and gauges sorted by name')

  const json = store.json()
  const byName = new Map<string, number>()
  for (const s of json.stats) if ('name' in s) byName.set(s.name, s.value)
  t.equal(byName.get(`cluster.${REVIEWS}.upstream_rq_total`), 5)
  t.equal(byName.get(`cluster.${REVIEWS}.upstream_rq_active`), 2)

  const prom = await store.prometheus()
  t.ok(hasSample(prom, `envoy_cluster_upstream_rq_total{cluster_name="${REVIEWS}"} 5`), 'tag-extracted cluster_name')
  t.ok(hasSample(prom, `envoy_cluster_upstream_cx_connect_fail{cluster_name="${REVIEWS}"} 2`))
  t.ok(hasSample(prom, `envoy_cluster_upstream_rq_active{cluster_name="${REVIEWS}"} 2`))
  t.ok(hasSample(prom, `envoy_cluster_circuit_breakers_default_remaining_rq{cluster_name="${REVIEWS}"} 1023`))
  t.ok(hasSample(prom, `envoy_cluster_outlier_detection_ejections_enforced_consecutive_5xx{cluster_name="${REVIEWS}"} 1`))
  t.match(prom, /^# TYPE envoy_cluster_upstream_rq_total counter$/m)
  t.match(prom, /^# TYPE envoy_cluster_upstream_rq_active gauge$/m)
})

t.test('http connection manager, listener and server stats', async (t) => {
  let now = 10_000
  const store = new StatsStore({ now: () => now, version: '1.2.3' })
  const h = store.httpConnManager(HCM)
  h.downstream_rq_total.inc()
  h.no_route.inc()
  h.fault.delays_injected.inc()
  h.fault.active_faults.inc()
  const l = store.listener('0.0.0.0:8080')
  t.equal(store.listener('0.0.0.0_8080'), l, '`:` and `_` name the same listener')
  l.downstream_cx_active.inc(3)
  store.listener('0.0.0.0:15006').downstream_cx_active.inc()
  now += 61_500

  const text = store.envoyText()
  t.equal(textValue(text, `http.${HCM}.downstream_rq_total`), '1')
  t.equal(textValue(text, `http.${HCM}.no_route`), '1')
  t.equal(textValue(text, `http.${HCM}.fault.delays_injected`), '1')
  t.equal(textValue(text, 'listener.0.0.0.0_8080.downstream_cx_active'), '3')
  t.equal(textValue(text, 'server.uptime'), '61')
  t.equal(textValue(text, 'server.total_connections'), '4')
  t.equal(textValue(text, 'server.version'), '1002003')
  t.equal(textValue(text, 'server.state'), '3', 'initializing until told otherwise')
  store.server.state = 'live'
  t.equal(textValue(store.envoyText(), 'server.state'), '0')
  t.equal(textValue(store.envoyText(), 'server.live'), '1')
  store.server.state = 'draining'
  t.equal(textValue(store.envoyText(), 'server.live'), '0')
  t.equal(textValue(text, 'listener_manager.total_listeners_active'), '2')

  const prom = await store.prometheus()
  t.ok(hasSample(prom, `envoy_http_downstream_rq_total{http_conn_manager_prefix="${HCM}"} 1`))
  t.ok(hasSample(prom, `envoy_http_fault_delays_injected{http_conn_manager_prefix="${HCM}"} 1`))
  t.ok(hasSample(prom, `envoy_http_fault_active_faults{http_conn_manager_prefix="${HCM}"} 1`))
  t.ok(hasSample(prom, 'envoy_listener_downstream_cx_active{listener_address="0.0.0.0_8080"} 3'))
  t.ok(hasSample(prom, 'envoy_server_uptime 61'))
  t.ok(hasSample(prom, 'envoy_server_live 0'))
})

t.test('response codes: per code and per class, in every form', async (t) => {
  const store = new StatsStore()
  const c = store.cluster(REVIEWS)
  for (const code of [200, 200, 204, 503, 200]) c.responseCode(code)
  c.responseCode(42) // not an HTTP status: ignored
  c.responseCode(200.5)
  const h = store.httpConnManager(HCM)
  for (const code of [200, 404, 404, 503]) h.responseCode(code)

  const text = store.envoyText()
  t.equal(textValue(text, `cluster.${REVIEWS}.upstream_rq_200`), '3')
  t.equal(textValue(text, `cluster.${REVIEWS}.upstream_rq_204`), '1')
  t.equal(textValue(text, `cluster.${REVIEWS}.upstream_rq_2xx`), '4')
  t.equal(textValue(text, `cluster.${REVIEWS}.upstream_rq_503`), '1')
  t.equal(textValue(text, `cluster.${REVIEWS}.upstream_rq_5xx`), '1')
  t.equal(textValue(text, `cluster.${REVIEWS}.upstream_rq_4xx`), undefined, 'classes appear when first seen, like Envoy')
  t.equal(textValue(text, `cluster.${REVIEWS}.upstream_rq_42`), undefined)
  t.equal(textValue(text, `http.${HCM}.downstream_rq_2xx`), '1')
  t.equal(textValue(text, `http.${HCM}.downstream_rq_4xx`), '2')
  t.equal(textValue(text, `http.${HCM}.downstream_rq_404`), undefined, 'no per-code downstream counter')

  const prom = await store.prometheus()
  t.ok(hasSample(prom, `envoy_cluster_upstream_rq{response_code="200",cluster_name="${REVIEWS}"} 3`))
  t.ok(hasSample(prom, `envoy_cluster_upstream_rq{response_code="503",cluster_name="${REVIEWS}"} 1`))
  t.ok(hasSample(prom, `envoy_cluster_upstream_rq{response_code_class="2xx",cluster_name="${REVIEWS}"} 4`))
  t.ok(hasSample(prom, `envoy_http_downstream_rq{response_code_class="4xx",http_conn_manager_prefix="${HCM}"} 2`))
  t.equal(prom.split('\n').filter((l) => l === '# TYPE envoy_cluster_upstream_rq counter').length, 1, 'codes and classes share one family')
})

t.test('histograms: Envoy quantile text, json shape, cumulative Prometheus buckets', async (t) => {
  const store = new StatsStore()
  const c = store.cluster(REVIEWS)
  const name = `cluster.${REVIEWS}.upstream_rq_time`
  t.equal(textValue(store.envoyText(), name), 'No recorded values')
  for (const v of [3, 7, 7, 120]) c.upstream_rq_time.observe(v)

  const line = textValue(store.envoyText(), name) ?? ''
  t.match(line, /^P0\(nan,3\) P25\(nan,[\d.]+\) P50\(nan,[\d.]+\) P75\(nan,[\d.]+\) P90\(nan,[\d.]+\) P95\(nan,[\d.]+\) P99\(nan,[\d.]+\) P99\.5\(nan,[\d.]+\) P99\.9\(nan,[\d.]+\) P100\(nan,120\)$/)
  const texts = store.envoyText().trimEnd().split('\n')
  t.ok(texts.indexOf(`${name}: ${line}`) > texts.findIndex((l) => l.startsWith('server.')), 'histograms after counters and gauges')

  const json = store.json(/upstream_rq_time$/)
  t.equal(json.stats.length, 1)
  const hs = json.stats[0]
  t.ok('histograms' in hs)
  if ('histograms' in hs) {
    const h = hs.histograms as { supported_quantiles: number[], computed_quantiles: Array<{ name: string, values: Array<{ interval: number | null, cumulative: number | null }> }> }
    t.same(h.supported_quantiles, [0, 25, 50, 75, 90, 95, 99, 99.5, 99.9, 100])
    t.equal(h.computed_quantiles[0].name, name)
    t.same(h.computed_quantiles[0].values[0], { interval: null, cumulative: 3 })
    t.same(h.computed_quantiles[0].values[9], { interval: null, cumulative: 120 })
  }

  const prom = await store.prometheus()
  const lbl = `cluster_name="${REVIEWS}"`
  t.ok(hasSample(prom, `envoy_cluster_upstream_rq_time_bucket{le="1",${lbl}} 0`))
  t.ok(hasSample(prom, `envoy_cluster_upstream_rq_time_bucket{le="5",${lbl}} 1`))
  t.ok(hasSample(prom, `envoy_cluster_upstream_rq_time_bucket{le="10",${lbl}} 3`))
  t.ok(hasSample(prom, `envoy_cluster_upstream_rq_time_bucket{le="250",${lbl}} 4`))
  t.ok(hasSample(prom, `envoy_cluster_upstream_rq_time_bucket{le="3600000",${lbl}} 4`))
  t.ok(hasSample(prom, `envoy_cluster_upstream_rq_time_bucket{le="+Inf",${lbl}} 4`))
  t.ok(hasSample(prom, `envoy_cluster_upstream_rq_time_sum{${lbl}} 137`))
  t.ok(hasSample(prom, `envoy_cluster_upstream_rq_time_count{${lbl}} 4`))
  t.match(prom, /^# TYPE envoy_cluster_upstream_rq_time histogram$/m)
})

t.test('filter regex applies to Envoy names in text and json', async (t) => {
  const store = new StatsStore()
  store.cluster(REVIEWS).upstream_rq_total.inc()
  store.cluster('outbound|9080|v1|reviews.default.svc.cluster.local').upstream_rq_total.inc(7)
  const re = /v2\|reviews.*upstream_rq_total$/g // `g` must not make repeated tests skip matches
  t.equal(store.envoyText(re), `cluster.${REVIEWS}.upstream_rq_total: 1\n`)
  t.equal(store.envoyText(re), `cluster.${REVIEWS}.upstream_rq_total: 1\n`, 'same answer twice')
  t.same(store.json(/upstream_rq_total$/).stats, [
    { name: 'cluster.outbound|9080|v1|reviews.default.svc.cluster.local.upstream_rq_total', value: 7 },
    { name: `cluster.${REVIEWS}.upstream_rq_total`, value: 1 }
  ])
  t.equal(store.envoyText(/^nothing-matches$/), '')
  t.same(store.json(/^nothing-matches$/), { stats: [] })
})

t.test('Istio request metrics carry every standard label', async (t) => {
  const store = new StatsStore()
  const labels = istioLabels()
  const rec = store.istio.handle(labels)
  t.equal(store.istio.handle(istioLabels()), rec, 'one recorder per static label set')
  rec.record(200, '-', '', 12, 300, 2048)
  rec.record(200, '-', '', 30, 300, 2048)
  rec.record(503, 'UF,URX', '', 1, 300, 91)
  rec.record(200, '-', '0', 4, 10, 10)

  const prom = await store.prometheus()
  const lines = prom.split('\n').filter((l) => l.startsWith('istio_requests_total{'))
  t.equal(lines.length, 3, 'one series per (code, flags, grpc status)')
  const expected = [...ISTIO_STATIC_LABELS, 'response_code', 'response_flags', 'grpc_response_status'].sort()
  for (const l of lines) t.same(Object.keys(labelsOf(l)).sort(), expected, 'all 25 labels')

  const ok = lines.find((l) => l.includes('response_code="200"') && l.includes('grpc_response_status=""'))
  t.ok(ok?.endsWith(' 2'))
  const okLabels = labelsOf(ok ?? '')
  for (const k of ISTIO_STATIC_LABELS) t.equal(okLabels[k], labels[k], k)
  t.equal(okLabels.response_flags, '-')
  const failed = lines.find((l) => l.includes('response_code="503"'))
  t.equal(labelsOf(failed ?? '').response_flags, 'UF,URX')
  t.ok(failed?.endsWith(' 1'))

  t.match(prom, /^# TYPE istio_requests_total counter$/m)
  t.match(prom, /^# TYPE istio_request_duration_milliseconds histogram$/m)
  t.match(prom, /^# TYPE istio_request_bytes histogram$/m)
  t.match(prom, /^# TYPE istio_response_bytes histogram$/m)
  const durationLes = prom.split('\n')
    .filter((l) => l.startsWith('istio_request_duration_milliseconds_bucket{') && l.includes('response_code="503"'))
    .map((l) => labelsOf(l).le)
  t.same(durationLes, [...ENVOY_DEFAULT_BUCKETS.map(String), '+Inf'], "Istio's duration buckets")
  t.same(ENVOY_DEFAULT_BUCKETS, [0.5, 1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000, 300000, 600000, 1800000, 3600000])
  const okSeries = `grpc_response_status="",response_flags="-"`
  const durationSum = prom.split('\n').find((l) => l.startsWith('istio_request_duration_milliseconds_sum{') && l.includes('response_code="200"') && l.includes(okSeries))
  t.ok(durationSum?.endsWith(' 42'))
  const respCount = prom.split('\n').find((l) => l.startsWith('istio_response_bytes_count{') && l.includes('response_code="200"') && l.includes(okSeries))
  t.ok(respCount?.endsWith(' 2'))
  t.ok(prom.split('\n').some((l) => l.startsWith('istio_requests_total{') && !l.startsWith('envoy_')), 'no envoy_ prefix on Istio families')

  const text = store.envoyText(/^istio_requests_total/)
  t.equal(text.trimEnd().split('\n').length, 3)

  const partial = store.istio.handle({ reporter: 'destination' } as IstioStaticLabels)
  partial.record(200, '-', '', 1, 1, 1)
  const partialLine = (await store.prometheus()).split('\n').find((l) => l.startsWith('istio_requests_total{reporter="destination"'))
  t.equal(labelsOf(partialLine ?? '').source_workload, 'unknown', 'missing labels become unknown')
})

t.test('Istio TCP metrics', async (t) => {
  const store = new StatsStore()
  const tcp = store.istio.tcpHandle(istioLabels({ request_protocol: 'tcp' }))
  tcp.opened()
  tcp.opened()
  tcp.sent(100)
  tcp.sent(50)
  tcp.received(7)
  tcp.closed('-')
  tcp.closed('UF')
  const prom = await store.prometheus()
  const find = (family: string, flags: string): string | undefined =>
    prom.split('\n').find((l) => l.startsWith(`${family}{`) && labelsOf(l).response_flags === flags)
  t.ok(find('istio_tcp_connections_opened_total', '-')?.endsWith(' 2'))
  t.ok(find('istio_tcp_sent_bytes_total', '-')?.endsWith(' 150'))
  t.ok(find('istio_tcp_received_bytes_total', '-')?.endsWith(' 7'))
  t.ok(find('istio_tcp_connections_closed_total', '-')?.endsWith(' 1'))
  t.ok(find('istio_tcp_connections_closed_total', 'UF')?.endsWith(' 1'))
  const line = find('istio_tcp_sent_bytes_total', '-') ?? ''
  t.same(Object.keys(labelsOf(line)).sort(), [...ISTIO_STATIC_LABELS, 'response_flags'].sort())
  t.equal(labelsOf(line).request_protocol, 'tcp')
})

t.test('resetCounters zeroes counters only', async (t) => {
  const store = new StatsStore()
  const c = store.cluster(REVIEWS)
  c.upstream_rq_total.inc(9)
  c.responseCode(200)
  c.upstream_rq_active.set(4)
  c.upstream_rq_time.observe(5)
  store.istio.handle(istioLabels()).record(200, '-', '', 5, 1, 1)
  store.resetCounters()
  const text = store.envoyText()
  t.equal(textValue(text, `cluster.${REVIEWS}.upstream_rq_total`), '0')
  t.equal(textValue(text, `cluster.${REVIEWS}.upstream_rq_200`), '0')
  t.equal(textValue(text, `cluster.${REVIEWS}.upstream_rq_active`), '4', 'gauges keep their value')
  t.not(textValue(text, `cluster.${REVIEWS}.upstream_rq_time`), 'No recorded values', 'histograms keep their samples')
  t.equal(c.upstream_rq_total.value, 0, 'handles see the reset')
  c.upstream_rq_total.inc()
  t.equal(textValue(store.envoyText(), `cluster.${REVIEWS}.upstream_rq_total`), '1', 'handles keep counting after a reset')
  const prom = await store.prometheus()
  t.ok(prom.split('\n').some((l) => l.startsWith('istio_requests_total{') && l.endsWith(' 0')))
})

t.test('removeCluster drops the cluster from every form', async (t) => {
  const store = new StatsStore()
  const c = store.cluster(REVIEWS)
  c.upstream_rq_total.inc()
  c.responseCode(200)
  c.upstream_rq_time.observe(1)
  store.cluster('outbound|9080|v1|reviews.default.svc.cluster.local').upstream_rq_total.inc(2)
  store.removeCluster(REVIEWS)
  store.removeCluster(REVIEWS) // twice is harmless

  t.notOk(store.envoyText().includes(REVIEWS))
  t.notOk(JSON.stringify(store.json()).includes(REVIEWS))
  const prom = await store.prometheus()
  t.notOk(prom.includes(REVIEWS))
  t.ok(hasSample(prom, 'envoy_cluster_upstream_rq_total{cluster_name="outbound|9080|v1|reviews.default.svc.cluster.local"} 2'), 'other clusters stay')
  t.ok(hasSample(prom, 'envoy_cluster_manager_cluster_added 2'))
  t.ok(hasSample(prom, 'envoy_cluster_manager_cluster_removed 1'))
  t.ok(hasSample(prom, 'envoy_cluster_manager_active_clusters 1'))
  t.notOk(/envoy_cluster_upstream_rq\{/.test(prom), 'the lazily created code family is gone with its last member')

  const again = store.cluster(REVIEWS)
  t.not(again, c)
  t.equal(textValue(store.envoyText(), `cluster.${REVIEWS}.upstream_rq_total`), '0', 'a re-added cluster starts from zero')
})

t.test("Ferry's fast renderer writes exactly what prom-client's formatter writes", async (t) => {
  const store = new StatsStore({ now: () => 0 })
  const c = store.cluster(REVIEWS)
  c.upstream_rq_total.inc(3)
  c.responseCode(200)
  c.upstream_rq_time.observe(2.5)
  store.httpConnManager(HCM).downstream_rq_time.observe(1e7)
  store.istio.handle(istioLabels({ destination_service: 'a"b\\c' })).record(201, '-', '', 0.25, 1, 2)
  // A metric someone else registers in the same registry goes through prom-client's own path.
  const extra = new PromCounter({ name: 'ferry_config_reloads_total', help: 'Config reloads', registers: [store.registry] })
  extra.inc(2)
  // Memory gauges move between two reads; everything else must match byte for byte.
  const stable = (text: string): string => text.replace(/^(envoy_server_memory_\w+) \d+$/gm, '$1 N')
  const fast = await store.prometheus()
  const reference = await Registry.prototype.metrics.call(store.registry)
  t.equal(stable(fast), stable(reference))
  t.ok(hasSample(fast, 'ferry_config_reloads_total 2'))
  store.registry.setDefaultLabels({ pod: 'p1' })
  t.ok(hasSample(await store.prometheus(), `envoy_cluster_upstream_rq_total{pod="p1",cluster_name="${REVIEWS}"} 3`), 'default labels fall back to prom-client')
})

t.test('label values are escaped in the exposition', async (t) => {
  const store = new StatsStore()
  store.istio.handle(istioLabels({ destination_service: 'we"ird\\name\nx' })).record(200, '-', '', 1, 1, 1)
  const prom = await store.prometheus()
  t.ok(prom.includes('destination_service="we\\"ird\\\\name\\nx"'))
})

t.test('promtool check metrics accepts the exposition', { skip: promtoolSkip }, async (t) => {
  if (!hasPromtool) {
    t.fail('promtool is required in CI (apt-get install -y prometheus)')
    return
  }

  const store = new StatsStore({ version: '0.1.0' })
  const c = store.cluster(REVIEWS)
  c.upstream_rq_total.inc()
  c.responseCode(200)
  c.responseCode(503)
  c.upstream_rq_time.observe(12)
  c.upstream_cx_connect_ms.observe(1)
  const h = store.httpConnManager(HCM)
  h.responseCode(404)
  h.downstream_rq_time.observe(3)
  store.listener('0.0.0.0:15006').downstream_cx_total.inc()
  store.istio.handle(istioLabels()).record(200, '-', '', 12, 300, 2048)
  store.istio.handle(istioLabels({ reporter: 'destination' })).record(503, 'UF', '14', 2, 3, 4)
  store.istio.tcpHandle(istioLabels()).closed('-')
  const exposition = await store.prometheus()

  const res = promtoolCheck(exposition)
  const { problems, unexpected } = res
  t.same(unexpected, [], 'no parse errors and no lint problems beyond Envoy/Istio naming')
  t.ok(res.status === 0 || (res.status === 3 && unexpected.length === 0), `promtool exit status ${String(res.status)}`)
  t.notOk(problems.some((p) => p.startsWith('istio_requests_total') || p.includes('no help text')), 'Istio counters and HELP texts are clean')

  // The classification above must not hide a broken exposition.
  t.equal(promtoolCheck(`${exposition}envoy_broken{cluster_name="x" 1\n`).status, 1, 'a malformed line is a hard failure (exit 1)')
})

t.test('workloadIdentity follows Istio rules', async (t) => {
  const env = {}
  const full = workloadIdentity({
    labels: {
      app: 'reviews',
      version: 'v2',
      'service.istio.io/canonical-name': 'reviews-canonical',
      'service.istio.io/canonical-revision': 'r2',
      'app.kubernetes.io/name': 'ignored',
      'pod-template-hash': '7d8f9c6b5'
    },
    namespace: 'default',
    podName: 'reviews-v2-7d8f9c6b5-x2k9q',
    serviceAccount: 'bookinfo-reviews',
    env
  })
  t.same(full, {
    workload: 'reviews-v2',
    app: 'reviews',
    version: 'v2',
    canonicalService: 'reviews-canonical',
    canonicalRevision: 'r2',
    namespace: 'default',
    cluster: 'Kubernetes',
    principal: 'spiffe://cluster.local/ns/default/sa/bookinfo-reviews'
  })

  const k8sLabels = workloadIdentity({ labels: { 'app.kubernetes.io/name': 'ratings', 'app.kubernetes.io/version': '1.4', app: 'r' }, namespace: 'ns', env })
  t.equal(k8sLabels.canonicalService, 'ratings')
  t.equal(k8sLabels.canonicalRevision, '1.4')
  t.equal(k8sLabels.workload, 'unknown')
  t.equal(k8sLabels.principal, 'unknown', 'no service account, no principal')

  const appOnly = workloadIdentity({ labels: { app: 'details' }, namespace: 'ns', podName: 'details-v1-5f4d7c9b8b-b2k9q', env })
  t.equal(appOnly.canonicalService, 'details')
  t.equal(appOnly.canonicalRevision, 'latest')
  t.equal(appOnly.version, 'unknown')
  t.equal(appOnly.workload, 'details-v1', 'ReplicaSet suffix stripped without the hash label')

  const bare = workloadIdentity({
    labels: {},
    namespace: 'ns',
    podName: 'worker-0',
    env: { ISTIO_META_CLUSTER_ID: 'east', ISTIO_META_WORKLOAD_NAME: 'worker', SERVICE_ACCOUNT: 'sa1', TRUST_DOMAIN: 'example.org' }
  })
  t.equal(bare.workload, 'worker', 'ISTIO_META_WORKLOAD_NAME wins')
  t.equal(bare.canonicalService, 'worker', 'falls back to the workload name')
  t.equal(bare.cluster, 'east')
  t.equal(bare.principal, 'spiffe://example.org/ns/ns/sa/sa1')

  t.equal(workloadNameFromPod('node-exporter-x7k2p'), 'node-exporter', 'DaemonSet pod')
  t.equal(workloadNameFromPod('web-0'), 'web-0', 'StatefulSet pods cannot be told apart by name')
  t.equal(workloadNameFromPod('my-nginx'), 'my-nginx', 'suffix with vowels is not a generated one')
})

// A real header an Istio 1.14 sidecar (bookinfo reviews-v3) sent, as published in
// zhaohuabing's "Istio metrics deep dive" post.
const REAL_PEER_METADATA = 'ChsKDkFQUF9DT05UQUlORVJTEgkaB3Jldmlld3MKGgoKQ0xVU1RFUl9JRBIMGgpLdWJlcm5ldGVzCh4KDElOU1RBTkNFX0lQUxIOGgwxNzIuMTYuMC4xMzMKGQoNSVNUSU9fVkVSU0lPThIIGgYxLjE0LjUK0wEKBkxBQkVMUxLIASrFAQoQCgNhcHASCRoHcmV2aWV3cwofChFwb2QtdGVtcGxhdGUtaGFzaBIKGgg1OGI2NDc5YgokChlzZWN1cml0eS5pc3Rpby5pby90bHNNb2RlEgcaBWlzdGlvCiwKH3NlcnZpY2UuaXN0aW8uaW8vY2Fub25pY2FsLW5hbWUSCRoHcmV2aWV3cworCiNzZXJ2aWNlLmlzdGlvLmlvL2Nhbm9uaWNhbC1yZXZpc2lvbhIEGgJ2MwoPCgd2ZXJzaW9uEgQaAnYzChoKB01FU0hfSUQSDxoNY2x1c3Rlci5sb2NhbAojCgROQU1FEhsaGXJldmlld3MtdjMtNThiNjQ3OWItNjJydjUKFgoJTkFNRVNQQUNFEgkaB2RlZmF1bHQKTgoFT1dORVISRRpDa3ViZXJuZXRlczovL2FwaXMvYXBwcy92MS9uYW1lc3BhY2VzL2RlZmF1bHQvZGVwbG95bWVudHMvcmV2aWV3cy12MwoXChFQTEFURk9STV9NRVRBREFUQRICKgAKHQoNV09SS0xPQURfTkFNRRIMGgpyZXZpZXdzLXYz'

t.test('parsePeerMetadata reads what Istio sends', async (t) => {
  t.same(parsePeerMetadata(REAL_PEER_METADATA), {
    name: 'reviews-v3-58b6479b-62rv5',
    workload: 'reviews-v3',
    app: 'reviews',
    version: 'v3',
    canonicalService: 'reviews',
    canonicalRevision: 'v3',
    namespace: 'default',
    cluster: 'Kubernetes',
    principal: 'unknown',
    serviceAccount: 'unknown'
  })

  // Hand-assembled Struct {NAMESPACE: "default"} so the decoder is not only checked against its own encoder.
  const handMade = Buffer.concat([
    Buffer.from([0x0a, 22, 0x0a, 9]), Buffer.from('NAMESPACE'), Buffer.from([0x12, 9, 0x1a, 7]), Buffer.from('default')
  ]).toString('base64')
  t.match(parsePeerMetadata(handMade), { namespace: 'default', workload: 'unknown', canonicalService: 'unknown' })
  t.same(encodeProtobufStruct({ NAMESPACE: 'default' }).toString('base64'), handMade, 'encoder matches the wire format')

  const json = Buffer.from(JSON.stringify({
    NAME: 'ratings-v1-85cc46b6d4-n7qdg', NAMESPACE: 'default', CLUSTER_ID: 'Kubernetes', SERVICE_ACCOUNT: 'bookinfo-ratings',
    LABELS: { app: 'ratings', version: 'v1' }
  })).toString('base64')
  t.match(parsePeerMetadata(json), {
    workload: 'ratings-v1', app: 'ratings', version: 'v1', canonicalService: 'ratings', canonicalRevision: 'v1', serviceAccount: 'bookinfo-ratings'
  })

  t.equal(parsePeerMetadata(''), null)
  t.equal(parsePeerMetadata('not base64 at all!'), null)
  t.equal(parsePeerMetadata(Buffer.from('{"broken": ').toString('base64')), null)
  t.equal(parsePeerMetadata(Buffer.from([0x0a, 0x7f, 0x01]).toString('base64')), null, 'truncated protobuf')
  t.equal(parsePeerMetadata(Buffer.from('[1,2]').toString('base64')), null)
  t.equal(parsePeerMetadata(Buffer.from('{"FOO":"bar"}').toString('base64')), null, 'a Struct without node fields')

  const ours = workloadIdentity({ labels: { app: 'ferry', version: 'v1' }, namespace: 'mesh', podName: 'ferry-6b7c9d8f5c-qwxzt', serviceAccount: 'ferry', env: {} })
  t.match(parsePeerMetadata(encodePeerMetadata({ ...ours, name: 'ferry-6b7c9d8f5c-qwxzt', serviceAccount: 'ferry' })), {
    workload: 'ferry', app: 'ferry', version: 'v1', canonicalService: 'ferry', canonicalRevision: 'v1', namespace: 'mesh', cluster: 'Kubernetes', serviceAccount: 'ferry'
  }, 'what Ferry sends, an Istio peer (and Ferry) reads back')
})
