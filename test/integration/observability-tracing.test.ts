// B3 propagation and Zipkin export through a real Ferry: what the upstream receives, and what a
// real HTTP collector on port 0 receives, checked field by field against Zipkin v2.

import t, { type Test } from 'tap'
import { startUpstream, startFerry, request, serviceEntry, stat, freePort, GATEWAY, type RunningFerry, type Upstream } from '../helpers/harness'
import { Tracing } from '../../src/observability/tracing'
import { startCollector, until, type Collector, type ReceivedSpan } from './observability-helpers'

const VS = `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: traced}
spec:
  hosts: ["*"]
  gateways: [gw]
  http:
  - route: [{destination: {host: echo.test}}]
`
const CLUSTER = 'outbound|80||echo.test'
const HEX16 = /^[0-9a-f]{16}$/
const HEX32 = /^[0-9a-f]{32}$/
const CALLER_TRACE = '463ac35c9f6413ad48485a3953bb6124'
const CALLER_SPAN = 'a2fb4a1d1a96d312'

/** Upstream: /fail answers 500 (not retried by Istio's default policy), everything else 200. */
async function upstream (): Promise<Upstream> {
  return await startUpstream((req, res) => {
    const status = req.url === '/fail' ? 500 : 200
    res.writeHead(status, { 'content-type': 'text/plain', 'content-length': '2' })
    res.end('ok')
  })
}

interface Setup {
  up: Upstream
  f: RunningFerry
  zipkin: Collector
  /** Sends what the exporter holds now instead of at its next interval (Tracing.exporter.flush is public). */
  flush: () => void
}

function flusher (f: RunningFerry): () => void {
  const tracing = f.ferry.proxy.tracing
  if (!(tracing instanceof Tracing) || tracing.exporter === null) throw new Error('Ferry was started without a Zipkin exporter')
  const exporter = tracing.exporter
  return () => exporter.flush()
}

async function setup (t: Test, samplingPercent: number, opts: { labels?: Record<string, string> } = {}): Promise<Setup> {
  const up = await upstream()
  t.teardown(() => up.close())
  const zipkin = await startCollector()
  t.teardown(() => zipkin.close())
  const f = await startFerry(GATEWAY + serviceEntry('echo.test', 80, [{ port: up.port }]) + VS, {}, { zipkin: zipkin.url, samplingPercent, labels: opts.labels ?? {} })
  // Some tests stop Ferry themselves to flush the exporter; teardown then has nothing to do.
  let stopping: Promise<void> | null = null
  const stop = (): Promise<void> => (stopping ??= f.stop())
  t.teardown(stop)
  return { up, f: { ...f, stop }, zipkin, flush: flusher(f) }
}

/** The headers the upstream received for the last request. */
function lastUpstreamHeaders (up: Upstream): Record<string, string | string[] | undefined> {
  return up.requests[up.requests.length - 1].headers
}

t.test('a request without B3 starts a 128-bit trace; its span reaches the collector', async t => {
  const { up, f, zipkin, flush } = await setup(t, 100)
  const res = await request(f.port, '/new', { headers: { 'x-request-id': 'req-new-1' } })
  t.equal(res.status, 200)
  const h = lastUpstreamHeaders(up)
  t.match(h['x-b3-traceid'], HEX32, 'a new trace gets a 128-bit (32 hex) trace id')
  t.match(h['x-b3-spanid'], HEX16, '16-hex span id')
  t.equal(h['x-b3-parentspanid'], undefined, 'a root span has no parent')
  t.equal(h['x-b3-sampled'], '1', 'sampled at 100%')
  t.equal(h['x-b3-flags'], undefined, 'no debug flag')
  t.equal(h.b3, undefined, 'the single header is only sent to callers that used it')
  t.equal(h['x-request-id'], 'req-new-1', 'x-request-id passes through unchanged')

  const span = await zipkin.waitForSpan(s => s.id === h['x-b3-spanid'], flush)
  t.equal(span.traceId, h['x-b3-traceid'])
  t.notOk('parentId' in span, 'no parentId on a root span')
  t.equal(zipkin.reports[0].method, 'POST')
  t.equal(zipkin.reports[0].url, '/api/v2/spans')
  t.match(zipkin.reports[0].contentType, /^application\/json/)
})

t.test('an incoming trace is continued: same trace id, Ferry\'s span is a child of the caller\'s', async t => {
  const { up, f, zipkin, flush } = await setup(t, 100)

  t.test('128-bit multi headers', async t => {
    const res = await request(f.port, '/child', {
      headers: { 'x-b3-traceid': CALLER_TRACE, 'x-b3-spanid': CALLER_SPAN, 'x-b3-parentspanid': '0020000000000001', 'x-b3-sampled': '1' }
    })
    t.equal(res.status, 200)
    const h = lastUpstreamHeaders(up)
    t.equal(h['x-b3-traceid'], CALLER_TRACE, 'same trace id')
    t.equal(h['x-b3-parentspanid'], CALLER_SPAN, "the upstream's parent is the caller's span")
    t.match(h['x-b3-spanid'], HEX16)
    t.not(h['x-b3-spanid'], CALLER_SPAN, 'Ferry sends its own span id, never the caller\'s')
    t.equal(h['x-b3-sampled'], '1')
    const span = await zipkin.waitForSpan(s => s.id === h['x-b3-spanid'], flush)
    t.equal(span.traceId, CALLER_TRACE)
    t.equal(span.parentId, CALLER_SPAN, 'the reported span\'s parent is the caller\'s span')
    t.notOk('shared' in span, 'span ids are never shared with the caller')
  })

  t.test('64-bit trace id is accepted and kept as 16 hex', async t => {
    await request(f.port, '/child64', { headers: { 'x-b3-traceid': '48485a3953bb6124', 'x-b3-spanid': CALLER_SPAN, 'x-b3-sampled': '1' } })
    const h = lastUpstreamHeaders(up)
    t.equal(h['x-b3-traceid'], '48485a3953bb6124')
    t.equal(h['x-b3-parentspanid'], CALLER_SPAN)
    const span = await zipkin.waitForSpan(s => s.id === h['x-b3-spanid'], flush)
    t.equal(span.traceId, '48485a3953bb6124', '16-hex trace id in Zipkin too')
    t.equal(span.parentId, CALLER_SPAN)
  })

  t.test('single b3 header', async t => {
    await request(f.port, '/single', { headers: { b3: `${CALLER_TRACE}-${CALLER_SPAN}-1` } })
    const h = lastUpstreamHeaders(up)
    t.equal(h['x-b3-traceid'], CALLER_TRACE)
    t.equal(h['x-b3-parentspanid'], CALLER_SPAN)
    const spanId = h['x-b3-spanid'] as string
    t.match(spanId, HEX16)
    t.not(spanId, CALLER_SPAN)
    t.equal(h.b3, `${CALLER_TRACE}-${spanId}-1-${CALLER_SPAN}`, 'a caller that used b3 gets b3 forwarded, rewritten for Ferry\'s span')
    const span = await zipkin.waitForSpan(s => s.id === spanId, flush)
    t.equal(span.traceId, CALLER_TRACE)
    t.equal(span.parentId, CALLER_SPAN)
  })

  t.test('x-b3-sampled: 0 is honoured at 100% sampling: propagated, never reported', async t => {
    await request(f.port, '/unsampled', { headers: { 'x-b3-traceid': CALLER_TRACE, 'x-b3-spanid': 'b000000000000001', 'x-b3-sampled': '0' } })
    const h = lastUpstreamHeaders(up)
    t.equal(h['x-b3-sampled'], '0', 'the decision travels on')
    t.equal(h['x-b3-traceid'], CALLER_TRACE)
    t.equal(h['x-b3-parentspanid'], 'b000000000000001')
    const unsampledSpan = h['x-b3-spanid']
    // A sampled request sent afterwards is queued behind it: once that one arrives, anything the
    // unsampled request had produced would have arrived too (shutdown below checks once more).
    await request(f.port, '/marker', { headers: { 'x-request-id': 'marker-after-unsampled' } })
    await zipkin.waitForSpan(s => (s.tags as Record<string, string> | undefined)?.['guid:x-request-id'] === 'marker-after-unsampled', flush)
    t.notOk(zipkin.spans.some(s => s.id === unsampledSpan || s.parentId === 'b000000000000001'), 'no span for the unsampled request')
    await f.stop()
    t.notOk(zipkin.spans.some(s => s.parentId === 'b000000000000001'), 'not even after the exporter was flushed by shutdown')
  })
})

t.test('at 0% sampling, x-b3-sampled: 1 and the debug flag still decide', async t => {
  const { up, f, zipkin, flush } = await setup(t, 0)

  await request(f.port, '/sampled', { headers: { 'x-b3-traceid': CALLER_TRACE, 'x-b3-spanid': 'c000000000000001', 'x-b3-sampled': '1' } })
  let h = lastUpstreamHeaders(up)
  t.equal(h['x-b3-sampled'], '1')
  const sampled = await zipkin.waitForSpan(s => s.parentId === 'c000000000000001', flush)
  t.equal(sampled.id, h['x-b3-spanid'])
  t.notOk('debug' in sampled, 'not a debug span')

  await request(f.port, '/debug', { headers: { 'x-b3-traceid': CALLER_TRACE, 'x-b3-spanid': 'd000000000000001', 'x-b3-flags': '1' } })
  h = lastUpstreamHeaders(up)
  t.equal(h['x-b3-flags'], '1', 'debug is propagated')
  t.equal(h['x-b3-sampled'], '1', 'debug implies sampled, and says so for applications that copy only x-b3-sampled')
  const debug = await zipkin.waitForSpan(s => s.parentId === 'd000000000000001', flush)
  t.equal(debug.debug, true, 'Zipkin debug: true')
  t.equal(debug.id, h['x-b3-spanid'])

  await request(f.port, '/single-debug', { headers: { b3: `${CALLER_TRACE}-e000000000000001-d` } })
  h = lastUpstreamHeaders(up)
  t.equal(h['x-b3-flags'], '1')
  const spanId = h['x-b3-spanid'] as string
  t.equal(h.b3, `${CALLER_TRACE}-${spanId}-d-e000000000000001`)
  t.equal((await zipkin.waitForSpan(s => s.id === spanId, flush)).debug, true)

  await request(f.port, '/undecided')
  h = lastUpstreamHeaders(up)
  t.equal(h['x-b3-sampled'], '0', 'an undecided request at 0% is unsampled, and still propagates B3')
  t.match(h['x-b3-traceid'], HEX32)
  const undecided = h['x-b3-spanid']
  await f.stop()
  t.equal(zipkin.spans.length, 3, 'exactly the three decided spans were reported')
  t.notOk(zipkin.spans.some(s => s.id === undecided))
})

t.test('spans are Zipkin v2, field by field', async t => {
  const { up, f, zipkin, flush } = await setup(t, 100, { labels: { istio: 'ingressgateway', app: 'edge-gateway', version: 'v1' } })
  const before = Date.now() * 1000
  const ok = await request(f.port, '/items/42?q=1', { headers: { 'x-request-id': 'rid-ok', 'user-agent': 'tap-test' } })
  const fail = await request(f.port, '/fail', { method: 'POST', body: 'abc', headers: { 'x-request-id': 'rid-fail', 'content-type': 'text/plain' } })
  const after = Date.now() * 1000
  t.equal(ok.status, 200)
  t.equal(fail.status, 500)
  const okHeaders = up.requests[0].headers
  const failHeaders = up.requests[1].headers
  const okSpan = await zipkin.waitForSpan(s => s.id === okHeaders['x-b3-spanid'], flush)
  const failSpan = await zipkin.waitForSpan(s => s.id === failHeaders['x-b3-spanid'], flush)

  const common = (t: Test, span: ReceivedSpan, upstreamHeaders: Record<string, unknown>): Record<string, string> => {
    const keys = Object.keys(span).sort()
    t.same(keys, ['duration', 'id', 'kind', 'localEndpoint', 'name', 'remoteEndpoint', 'tags', 'timestamp', 'traceId'], 'exactly the Zipkin v2 fields expected of a root span')
    t.match(span.traceId, HEX32, 'traceId: 32 lower-case hex')
    t.equal(span.traceId, upstreamHeaders['x-b3-traceid'])
    t.match(span.id, HEX16, 'id: 16 lower-case hex')
    t.equal(span.name, 'echo.test:80/*', "name: Istio's route operation, <destination host>:<port>/*")
    t.equal(span.kind, 'SERVER', 'SERVER at a gateway')
    t.ok(Number.isInteger(span.timestamp), 'timestamp is an integer')
    t.ok((span.timestamp as number) >= before - 1000 && (span.timestamp as number) <= after + 1000, 'timestamp is epoch microseconds')
    t.ok(Number.isInteger(span.duration) && (span.duration as number) >= 1, 'duration is a positive integer')
    t.ok((span.duration as number) <= after - before + 1000, 'duration is in microseconds')
    const local = span.localEndpoint as Record<string, unknown>
    t.equal(local.serviceName, 'edge-gateway', "localEndpoint.serviceName is the workload's app label")
    const remote = span.remoteEndpoint as Record<string, unknown>
    t.same(remote, { ipv4: '127.0.0.1', port: up.port }, 'remoteEndpoint: the upstream host')
    const tags = span.tags as Record<string, unknown>
    for (const [k, v] of Object.entries(tags)) t.type(v, 'string', `tag ${k} is a string`)
    t.equal(tags['upstream_cluster'], CLUSTER)
    t.equal(tags['upstream_address'], `127.0.0.1:${up.port}`)
    t.equal(tags['http.protocol'], 'HTTP/1.1')
    t.equal(tags['component'], 'proxy')
    t.equal(tags['response_flags'], '-')
    t.match(tags['node_id'], /^router~/, 'node_id: a gateway is a router node')
    t.equal(tags['node_id'], f.ferry.proxy.nodeId)
    return tags as Record<string, string>
  }

  t.test('a 200', async t => {
    const tags = common(t, okSpan, okHeaders)
    t.equal(tags['http.method'], 'GET')
    t.equal(tags['http.status_code'], '200')
    t.equal(tags['http.url'], `http://example.com/items/42?q=1`)
    t.equal(tags['guid:x-request-id'], 'rid-ok')
    t.equal(tags['user_agent'], 'tap-test')
    t.equal(tags['response_size'], '2')
    t.notOk('error' in tags, 'no error tag on a 200')
  })

  t.test('a 5xx', async t => {
    const tags = common(t, failSpan, failHeaders)
    t.equal(tags['http.method'], 'POST')
    t.equal(tags['http.status_code'], '500')
    t.equal(tags['http.url'], `http://example.com/fail`)
    t.equal(tags['guid:x-request-id'], 'rid-fail')
    t.equal(tags['request_size'], '3')
    t.equal(tags.error, 'true', 'error=true on a 5xx')
  })

})

t.test('--sampling 0 sends nothing, and B3 still propagates', async t => {
  const { up, f, zipkin } = await setup(t, 0)
  for (let i = 0; i < 20; i++) t.equal((await request(f.port, `/quiet/${i}`)).status, 200)
  t.ok(up.requests.every(r => r.headers['x-b3-sampled'] === '0' && HEX32.test(String(r.headers['x-b3-traceid']))), 'every upstream request carries x-b3-sampled: 0 and a trace id')
  // Deterministic instead of waiting out the flush interval: shutdown sends everything queued.
  const exporter = f.ferry.proxy.tracing
  await f.stop()
  t.equal(zipkin.reports.length, 0, 'the collector received no report at all')
  t.same(exporter.stats, { spansSent: 0, spansDropped: 0, reportsFailed: 0, reportsSent: 0 })
})

t.test('the same setup at 100% does report, so the 0% test above can fail', async t => {
  const { f, zipkin } = await setup(t, 100)
  for (let i = 0; i < 20; i++) await request(f.port, `/loud/${i}`)
  await f.stop()
  t.equal(zipkin.spans.length, 20)
})

t.test('a dead collector changes nothing for clients', async t => {
  const up = await upstream()
  t.teardown(() => up.close())
  const dead = await freePort() // bound and closed: connections are refused
  const f = await startFerry(GATEWAY + serviceEntry('echo.test', 80, [{ port: up.port }]) + VS, {}, { zipkin: `http://127.0.0.1:${dead}/api/v2/spans`, samplingPercent: 100 })
  let stopped = false
  t.teardown(() => (stopped ? undefined : f.stop()))
  const statuses: number[] = []
  for (let round = 0; round < 5; round++) {
    const batch = await Promise.all(Array.from({ length: 30 }, async (_x, i) => await request(f.port, `/dead/${round}/${i}`)))
    statuses.push(...batch.map(r => r.status))
  }
  t.same(new Set(statuses), new Set([200]), `all ${statuses.length} requests answered 200`)
  t.equal(up.requests.length, 150)
  t.ok(up.requests.every(r => HEX16.test(String(r.headers['x-b3-spanid']))), 'B3 still propagated')
  // Reports fail (connection refused) and are counted, not retried, never in a client's way.
  await until(async () => ((await stat(f, 'tracing.zipkin.reports_failed')) ?? 0) >= 1, 5000, 'no failed report counted')
  t.equal(await stat(f, 'tracing.zipkin.spans_sent'), 0)
  const started = Date.now()
  await f.stop()
  stopped = true
  t.ok(Date.now() - started < 4000, 'shutdown is bounded by one report deadline')
})
