'use strict'
// Micro benchmark for src/observability/stats: what the request path pays per stat update, next
// to what prom-client's own metrics would cost for the same update, plus the cost of one scrape.
//   npx tsc -p . && node bench/micro/stats.bench.js
// Prints ns/op for 1e6 operations after a warm-up; scrape figures are ms per call.
const path = require('node:path')

const stats = require(path.join(__dirname, '..', '..', 'dist', 'observability', 'stats'))
const { StatsStore, ENVOY_DEFAULT_BUCKETS } = stats
const client = require('prom-client')

let sink = 0

function bench (name, fn, { iterations = 1_000_000, warmup = 100_000 } = {}) {
  for (let i = 0; i < warmup; i++) fn(i)
  const start = process.hrtime.bigint()
  for (let i = 0; i < iterations; i++) fn(i)
  const ns = Number(process.hrtime.bigint() - start) / iterations
  console.log(`${name.padEnd(66)} ${ns.toFixed(1).padStart(8)} ns/op`)
  return ns
}

async function benchAsync (name, fn, iterations) {
  await fn()
  const start = process.hrtime.bigint()
  for (let i = 0; i < iterations; i++) sink += (await fn()).length
  const ms = Number(process.hrtime.bigint() - start) / iterations / 1e6
  console.log(`${name.padEnd(66)} ${ms.toFixed(2).padStart(8)} ms/op`)
}

const CLUSTER = 'outbound|9080|v2|reviews.default.svc.cluster.local'
const ISTIO = {
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
  connection_security_policy: 'unknown'
}

async function main () {
  console.log('# Ferry stats (handles resolved up front, as the request path uses them)')
  const store = new StatsStore()
  const cluster = store.cluster(CLUSTER)
  const recorder = store.istio.handle(ISTIO)
  bench('ferry Counter.inc()', () => cluster.upstream_rq_total.inc())
  bench('ferry Gauge.inc() + dec()', () => { cluster.upstream_rq_active.inc(); cluster.upstream_rq_active.dec() })
  bench('ferry Histogram.observe(ms)', (i) => cluster.upstream_rq_time.observe(i & 127))
  bench('ferry ClusterStats.responseCode(200)', () => cluster.responseCode(200))
  bench('ferry ClusterStats.responseCode(200|503 alternating)', (i) => cluster.responseCode((i & 1) === 0 ? 200 : 503))
  bench('ferry istio record() (1 counter + 3 histograms, 25 labels)', (i) => recorder.record(200, '-', '', i & 255, 300, 2048))
  bench('ferry istio record() (4 outcomes rotating)', (i) => recorder.record((i & 3) === 0 ? 503 : 200, (i & 3) === 0 ? 'UF' : '-', '', 3, 300, 2048))
  sink += cluster.upstream_rq_total.value

  console.log('# prom-client metrics updated directly, for comparison')
  const reg = new client.Registry()
  const plain = new client.Counter({ name: 'c_plain', help: 'h', registers: [reg] })
  const labelled = new client.Counter({ name: 'c_labelled', help: 'h', labelNames: ['cluster_name'], registers: [reg] })
  const child = labelled.labels(CLUSTER)
  const hist = new client.Histogram({ name: 'h_plain', help: 'h', buckets: [...ENVOY_DEFAULT_BUCKETS], registers: [reg] })
  const istioNames = [...Object.keys(ISTIO), 'response_code', 'response_flags', 'grpc_response_status']
  const istioCounter = new client.Counter({ name: 'istio_requests_total', help: 'h', labelNames: istioNames, registers: [reg] })
  const istioHist = new client.Histogram({ name: 'istio_request_duration_milliseconds', help: 'h', labelNames: istioNames, buckets: [...ENVOY_DEFAULT_BUCKETS], registers: [reg] })
  bench('prom-client Counter.inc() (no labels)', () => plain.inc())
  bench('prom-client Counter.inc({cluster_name})', () => labelled.inc({ cluster_name: CLUSTER }))
  bench('prom-client Counter.labels(cluster).inc() child', () => child.inc())
  bench('prom-client Histogram.observe(ms) (no labels)', (i) => hist.observe(i & 127))
  bench('prom-client istio counter.inc + 1 histogram.observe (25 labels)', (i) => {
    const labels = { ...ISTIO, response_code: '200', response_flags: '-', grpc_response_status: '' }
    istioCounter.inc(labels)
    istioHist.observe(labels, i & 255)
  }, { iterations: 200_000, warmup: 20_000 })

  console.log('# scrape cost (not on the request path)')
  const big = new StatsStore()
  for (let c = 0; c < 100; c++) {
    const s = big.cluster(`outbound|9080|v${c}|svc${c}.default.svc.cluster.local`)
    s.upstream_rq_total.inc(c)
    s.responseCode(200)
    s.upstream_rq_time.observe(c)
    big.istio.handle({ ...ISTIO, destination_workload: `w${c}` }).record(200, '-', '', c, 1, 1)
  }
  big.httpConnManager('outbound_0.0.0.0_8080')
  big.listener('0.0.0.0:15001')
  await benchAsync('prometheus() with 100 clusters + 100 istio series', () => big.prometheus(), 50)
  await benchAsync('envoyText() with 100 clusters + 100 istio series', async () => big.envoyText(), 50)
  if (sink === -1) console.log(sink)
}

main().catch((err) => {
  console.error(err)
  process.exitCode = 1
})
