// Stats after known traffic, through a real Ferry: exact counter values in Envoy's /stats text,
// /stats?format=json and /stats/prometheus (Envoy's and Istio's names and labels), the
// tracing.zipkin.* counters against what a real collector received, and promtool on the live output.

import t from 'tap'
import { hasPromtool, promtoolCheck, promtoolSkip } from '../helpers/promtool'
import { startUpstream, startFerry, request, admin, stat, serviceEntry, freePort, GATEWAY } from '../helpers/harness'
import { Tracing } from '../../src/observability/tracing'
import { ISTIO_STATIC_LABELS } from '../../src/observability/stats'
import { startCollector, until, parsePrometheus, samples } from './observability-helpers'

const VS = `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: stats}
spec:
  hosts: ["*"]
  gateways: [gw]
  http:
  - match: [{uri: {prefix: /status/}}]
    route: [{destination: {host: echo.test}}]
  - match: [{uri: {prefix: /dead}}]
    retries: {attempts: 0}
    route: [{destination: {host: dead.test}}]
`
const ECHO = 'outbound|80||echo.test'
const DEAD = 'outbound|80||dead.test'


t.test('exact counters after known traffic', async t => {
  const up = await startUpstream((req, res) => {
    const code = Number((req.url ?? '').split('/')[2])
    res.writeHead(code, { 'content-type': 'text/plain', 'content-length': '5' })
    res.end('hello')
  })
  t.teardown(() => up.close())
  const deadPort = await freePort()
  const zipkin = await startCollector()
  t.teardown(() => zipkin.close())
  const f = await startFerry(
    GATEWAY + serviceEntry('echo.test', 80, [{ port: up.port, labels: { app: 'echo', version: 'v7' } }]) + serviceEntry('dead.test', 80, [{ port: deadPort }]) + VS,
    {},
    { labels: { istio: 'ingressgateway', app: 'istio-ingressgateway' }, zipkin: zipkin.url, samplingPercent: 100 }
  )
  t.teardown(() => f.stop())
  const HCM = `http.outbound_0.0.0.0_${f.port}`

  // The traffic: 5 × 200, 3 × 404, 2 × 500 from the upstream (4 bytes of request body each),
  // one connect failure (503 UF), one path no route matches (404 NR).
  const plan: Array<[string, number]> = [
    ...Array.from({ length: 5 }, (): [string, number] => ['/status/200', 200]),
    ...Array.from({ length: 3 }, (): [string, number] => ['/status/404', 404]),
    ...Array.from({ length: 2 }, (): [string, number] => ['/status/500', 500]),
    ['/dead', 503],
    ['/nowhere', 404]
  ]
  for (const [path, code] of plan) {
    const res = await request(f.port, path, { method: 'POST', body: 'ping' })
    t.equal(res.status, code, `${path} answered ${code}`)
  }

  t.test('Envoy /stats text', async t => {
    const expected: Record<string, number> = {
      [`cluster.${ECHO}.upstream_rq_total`]: 10,
      [`cluster.${ECHO}.upstream_rq_completed`]: 10,
      [`cluster.${ECHO}.upstream_rq_200`]: 5,
      [`cluster.${ECHO}.upstream_rq_404`]: 3,
      [`cluster.${ECHO}.upstream_rq_500`]: 2,
      [`cluster.${ECHO}.upstream_rq_2xx`]: 5,
      [`cluster.${ECHO}.upstream_rq_4xx`]: 3,
      [`cluster.${ECHO}.upstream_rq_5xx`]: 2,
      [`cluster.${ECHO}.upstream_rq_retry`]: 0,
      [`cluster.${ECHO}.upstream_rq_active`]: 0,
      // A connect failure answered 503 UF: one connection attempted and failed, and the local
      // reply charged to the cluster as Envoy's router does (upstream_rq_503, _5xx, _completed).
      [`cluster.${DEAD}.upstream_cx_total`]: 1,
      [`cluster.${DEAD}.upstream_cx_connect_fail`]: 1,
      [`cluster.${DEAD}.upstream_cx_active`]: 0,
      [`cluster.${DEAD}.upstream_rq_503`]: 1,
      [`cluster.${DEAD}.upstream_rq_5xx`]: 1,
      [`cluster.${DEAD}.upstream_rq_completed`]: 1,
      [`cluster.${DEAD}.upstream_rq_retry`]: 0,
      [`${HCM}.downstream_rq_total`]: 12,
      [`${HCM}.downstream_rq_2xx`]: 5,
      [`${HCM}.downstream_rq_4xx`]: 4,
      [`${HCM}.downstream_rq_5xx`]: 3,
      [`${HCM}.downstream_rq_active`]: 0,
      [`${HCM}.no_route`]: 1
    }
    const text = (await admin(f, '/stats')).body
    const values = new Map<string, number>()
    for (const line of text.split('\n')) {
      const i = line.lastIndexOf(': ')
      if (i > 0) values.set(line.slice(0, i), Number(line.slice(i + 2)))
    }
    for (const [name, value] of Object.entries(expected)) t.equal(values.get(name), value, name)
    t.notOk(values.has(`cluster.${ECHO}.upstream_rq_503`), 'no code the upstream never sent')

    const filtered = (await admin(f, `/stats?filter=${encodeURIComponent('upstream_rq_2xx$')}`)).body
    t.same(filtered.trim().split('\n').filter(l => l.includes('echo.test')), [`cluster.${ECHO}.upstream_rq_2xx: 5`], '?filter=regex')

    const json = JSON.parse((await admin(f, '/stats?format=json')).body) as { stats: Array<{ name?: string, value?: number }> }
    const byName = new Map(json.stats.filter(s => s.name !== undefined).map(s => [s.name as string, s.value]))
    for (const [name, value] of Object.entries(expected)) t.equal(byName.get(name), value, `json ${name}`)
  })

  t.test('Prometheus: Envoy names with tags as labels', async t => {
    const res = await admin(f, '/stats/prometheus')
    t.match(res.headers['content-type'], /^text\/plain; version=0\.0\.4/)
    const all = parsePrometheus(res.body)
    const one = (name: string, labels: Record<string, string>): number[] => samples(all, name, labels).map(s => s.value)
    t.same(one('envoy_cluster_upstream_rq_total', { cluster_name: ECHO }), [10])
    t.same(one('envoy_cluster_upstream_rq_completed', { cluster_name: ECHO }), [10])
    t.same(one('envoy_cluster_upstream_rq', { response_code: '200', cluster_name: ECHO }), [5])
    t.same(one('envoy_cluster_upstream_rq', { response_code: '404', cluster_name: ECHO }), [3])
    t.same(one('envoy_cluster_upstream_rq', { response_code: '500', cluster_name: ECHO }), [2])
    t.same(one('envoy_cluster_upstream_rq', { response_code_class: '2xx', cluster_name: ECHO }), [5])
    t.same(one('envoy_cluster_upstream_rq', { response_code_class: '5xx', cluster_name: ECHO }), [2])
    t.same(one('envoy_cluster_upstream_cx_connect_fail', { cluster_name: DEAD }), [1])
    t.same(one('envoy_cluster_upstream_rq', { response_code: '503', cluster_name: DEAD }), [1])
    const prefix = `outbound_0.0.0.0_${f.port}`
    t.same(one('envoy_http_downstream_rq_total', { http_conn_manager_prefix: prefix }), [12])
    t.same(one('envoy_http_downstream_rq', { response_code_class: '4xx', http_conn_manager_prefix: prefix }), [4])
    t.same(one('envoy_http_no_route', { http_conn_manager_prefix: prefix }), [1])
    const rqTime = samples(all, 'envoy_cluster_upstream_rq_time_count', { cluster_name: ECHO })
    t.same(rqTime.map(s => s.value), [10], 'upstream_rq_time histogram: one sample per completed request')
  })

  t.test('Prometheus: Istio standard metrics with every standard label', async t => {
    const all = parsePrometheus((await admin(f, '/stats/prometheus')).body)
    const requests = samples(all, 'istio_requests_total')
    const standard = [...ISTIO_STATIC_LABELS, 'response_code', 'grpc_response_status', 'response_flags'].sort()
    for (const s of requests) t.same(Object.keys(s.labels).sort(), standard, `labels of ${s.labels.response_code}/${s.labels.response_flags}`)
    const echo = { reporter: 'source', destination_service: 'echo.test', destination_service_name: 'echo', destination_app: 'echo', destination_version: 'v7', source_app: 'istio-ingressgateway', request_protocol: 'http' }
    const count = (labels: Record<string, string>): number[] => samples(all, 'istio_requests_total', labels).map(s => s.value)
    t.same(count({ ...echo, response_code: '200', response_flags: '-', grpc_response_status: '' }), [5])
    t.same(count({ ...echo, response_code: '404', response_flags: '-' }), [3])
    t.same(count({ ...echo, response_code: '500', response_flags: '-' }), [2])
    t.same(count({ reporter: 'source', destination_service: 'dead.test', response_code: '503', response_flags: 'UF' }), [1], 'a connect failure: 503 UF')
    t.equal(requests.reduce((n, s) => n + s.value, 0), 11, 'every request that reached a cluster; the NR 404 had no destination')
    const durations = samples(all, 'istio_request_duration_milliseconds_count', { destination_service: 'echo.test' })
    t.equal(durations.reduce((n, s) => n + s.value, 0), 10)
    const buckets = samples(all, 'istio_request_duration_milliseconds_bucket', { destination_service: 'echo.test', response_code: '200' }).map(s => s.labels.le)
    t.same(buckets, ['0.5', '1', '5', '10', '25', '50', '100', '250', '500', '1000', '2500', '5000', '10000', '30000', '60000', '300000', '600000', '1800000', '3600000', '+Inf'], "Istio's buckets")
    const reqBytes = samples(all, 'istio_request_bytes_sum', { destination_service: 'echo.test' })
    t.equal(reqBytes.reduce((n, s) => n + s.value, 0), 40, 'request bytes: 10 bodies of 4')
    const respBytes = samples(all, 'istio_response_bytes_sum', { destination_service: 'echo.test' })
    t.equal(respBytes.reduce((n, s) => n + s.value, 0), 50, 'response bytes: 10 bodies of 5')
  })

  t.test('tracing.zipkin.* counts what the collector received', async t => {
    const tracing = f.ferry.proxy.tracing
    if (!(tracing instanceof Tracing) || tracing.exporter === null) throw new Error('no exporter')
    const exporter = tracing.exporter
    await until(() => {
      exporter.flush()
      return zipkin.spans.length === 12
    }, 5000, 'not all 12 spans reached the collector')
    await until(() => exporter.stats.reportsSent === zipkin.reports.length, 2000, 'report answers not counted yet')
    t.equal(await stat(f, 'tracing.zipkin.spans_sent'), 12)
    t.equal(await stat(f, 'tracing.zipkin.reports_sent'), zipkin.reports.length)
    t.equal(await stat(f, 'tracing.zipkin.reports_failed'), 0)
    t.equal(await stat(f, 'tracing.zipkin.spans_dropped'), 0)
    const all = parsePrometheus((await admin(f, '/stats/prometheus')).body)
    t.same(samples(all, 'envoy_tracing_zipkin_spans_sent').map(s => s.value), [12])
    t.same(samples(all, 'envoy_tracing_zipkin_reports_failed').map(s => s.value), [0])
  })

  t.test('promtool check metrics on the live exposition', { skip: promtoolSkip }, async t => {
    if (!hasPromtool) {
      t.fail('promtool is required in CI (apt-get install -y prometheus)')
      return
    }
    const exposition = (await admin(f, '/stats/prometheus')).body
    const res = promtoolCheck(exposition)
    const { problems, unexpected } = res
    t.same(unexpected, [], 'no parse error and no lint problem beyond Envoy/Istio naming')
    t.ok(res.status === 0 || (res.status === 3 && unexpected.length === 0), `promtool exit status ${String(res.status)}`)
    t.notOk(problems.some(p => p.startsWith('istio_requests_total') || p.includes('no help text')), 'Istio counters clean, every family has HELP')
  })

  t.test('/reset_counters zeroes every counter, the exporter-fed ones included', async t => {
    t.equal((await admin(f, '/reset_counters', 'POST')).status, 200)
    t.equal(await stat(f, `cluster.${ECHO}.upstream_rq_total`), 0)
    t.equal(await stat(f, 'tracing.zipkin.spans_sent'), 0)
    t.equal((await request(f.port, '/status/200')).status, 200)
    t.equal(await stat(f, `cluster.${ECHO}.upstream_rq_total`), 1)
    const all = parsePrometheus((await admin(f, '/stats/prometheus')).body)
    t.same(samples(all, 'istio_requests_total', { destination_service: 'echo.test', response_code: '200' }).map(s => s.value), [1])
  })
})
