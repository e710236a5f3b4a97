import t from 'tap'
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo, Socket } from 'node:net'
import { once } from 'node:events'
import { Tags, Tracing, type TracingOptions } from '../../src/observability/tracing/index'
import { ManualTimer } from '../helpers/manual-timer'

interface Report {
  method: string
  url: string
  contentType: string | undefined
  body: unknown
}

/** A Zipkin collector on port 0 that records what it is sent. `mode` decides how it answers. */
/** Only what collector() needs of a tap test. */
interface Teardown {
  teardown(fn: () => unknown): void
}

async function collector(t: Teardown, mode: 'accept' | 'hang' = 'accept') {
  const reports: Report[] = []
  const sockets = new Set<Socket>()
  const waiters: (() => void)[] = []
  const server: Server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      reports.push({
        method: req.method ?? '',
        url: req.url ?? '',
        contentType: req.headers['content-type'],
        body: JSON.parse(Buffer.concat(chunks).toString('utf8')),
      })
      for (const w of waiters.splice(0)) w()
      if (mode === 'accept') res.writeHead(202).end()
      // 'hang': never answer.
    })
  })
  server.on('connection', (s: Socket) => {
    sockets.add(s)
    s.on('close', () => sockets.delete(s))
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  t.teardown(async () => {
    for (const s of sockets) s.destroy()
    server.close()
    await once(server, 'close')
  })
  const port = (server.address() as AddressInfo).port
  return {
    url: `http://127.0.0.1:${port}/api/v2/spans`,
    reports,
    /** Resolves once `n` reports arrived. */
    async waitFor(n: number): Promise<void> {
      while (reports.length < n) await new Promise<void>((resolve) => waiters.push(resolve))
    },
  }
}

function tracingFor(url: string, over: Partial<TracingOptions> = {}): Tracing {
  return new Tracing({
    zipkinUrl: url,
    samplingPercent: 100,
    serviceName: 'productpage',
    nodeId: 'sidecar~10.0.0.5~productpage-v1-abc.default~default.svc.cluster.local',
    localAddress: '10.0.0.5',
    zone: 'zone-a',
    timer: new ManualTimer(),
    ...over,
  })
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))

async function until(cond: () => boolean, timeoutMs = 3000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!cond() && Date.now() < deadline) await sleep(5)
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}

t.test('a real collector receives Zipkin v2 JSON, field by field', async (t) => {
  const zipkin = await collector(t)
  const tracing = tracingFor(zipkin.url, { maxBatch: 2 })
  t.teardown(() => tracing.shutdown())

  const server = tracing.startSpan(
    { 'x-b3-traceid': '80f198ee56343ba864fe8b2a57d3eff7', 'x-b3-spanid': 'e457b5a2e4d86bd1', 'x-b3-sampled': '1' },
    'SERVER',
    'productpage.default.svc.cluster.local:9080/*',
  )
  server.setTag(Tags.HttpUrl, 'http://productpage.default.svc.cluster.local:9080/productpage')
  server.setTag(Tags.HttpMethod, 'GET')
  server.setTag(Tags.HttpProtocol, 'HTTP/1.1')
  server.setTag(Tags.UpstreamCluster, 'inbound|9080||')
  server.setTag(Tags.UpstreamClusterName, 'inbound|9080||')
  server.setTag(Tags.UpstreamAddress, '127.0.0.1:9080')
  server.setTag(Tags.RequestId, '1f2e3d4c-0000-4000-8000-000000000000')
  server.setTag(Tags.DownstreamCluster, '-')
  server.setTag(Tags.UserAgent, 'curl/8.0')
  server.setTag(Tags.RequestSize, '0')
  server.setTag(Tags.ResponseSize, '1234')
  server.setTag(Tags.PeerAddress, '10.0.0.9')
  server.setRemoteEndpoint('10.0.0.9', 51000)
  server.setLocalEndpoint('10.0.0.5', 15006)

  const client = tracing.startSpan({}, 'CLIENT', 'reviews.default.svc.cluster.local:9080/*')
  client.setRemoteEndpoint('10.0.0.7', 9080)
  client.finish(503, 'UF')
  server.finish(200, '')
  await zipkin.waitFor(1)

  t.equal(zipkin.reports.length, 1, 'two spans, one report (batch size 2)')
  const report = zipkin.reports[0]
  t.equal(report.method, 'POST')
  t.equal(report.url, '/api/v2/spans')
  t.equal(report.contentType, 'application/json')
  t.ok(Array.isArray(report.body), 'a JSON array')
  const spans = report.body as unknown[]
  t.equal(spans.length, 2)

  for (const s of spans) {
    if (!isObject(s)) {
      t.fail('span is an object')
      continue
    }
    t.match(s.traceId, /^([0-9a-f]{16}|[0-9a-f]{32})$/, 'traceId: 16 or 32 lower-case hex')
    t.match(s.id, /^[0-9a-f]{16}$/, 'id: 16 lower-case hex')
    if (s.parentId !== undefined) t.match(s.parentId, /^[0-9a-f]{16}$/, 'parentId: 16 lower-case hex')
    t.type(s.name, 'string')
    t.ok(s.kind === 'SERVER' || s.kind === 'CLIENT')
    t.ok(Number.isInteger(s.timestamp) && (s.timestamp as number) > 1_600_000_000_000_000, 'timestamp: integer epoch µs')
    t.ok(Number.isInteger(s.duration) && (s.duration as number) >= 1, 'duration: integer µs ≥ 1')
    t.ok(isObject(s.tags))
    for (const [k, v] of Object.entries(s.tags as Record<string, unknown>)) t.type(v, 'string', `tag ${k} is a string`)
    t.equal(s.shared, undefined, 'Ferry never shares a span id with its caller')
  }

  const [c, sv] = spans as Record<string, unknown>[]
  t.equal(sv.traceId, '80f198ee56343ba864fe8b2a57d3eff7')
  t.equal(sv.parentId, 'e457b5a2e4d86bd1')
  t.equal(sv.id, server.spanId)
  t.equal(sv.name, 'productpage.default.svc.cluster.local:9080/*')
  t.equal(sv.kind, 'SERVER')
  t.same(sv.localEndpoint, { serviceName: 'productpage', ipv4: '10.0.0.5', port: 15006 })
  t.same(sv.remoteEndpoint, { ipv4: '10.0.0.9', port: 51000 })
  t.same(sv.tags, {
    'http.url': 'http://productpage.default.svc.cluster.local:9080/productpage',
    'http.method': 'GET',
    'http.protocol': 'HTTP/1.1',
    upstream_cluster: 'inbound|9080||',
    'upstream_cluster.name': 'inbound|9080||',
    upstream_address: '127.0.0.1:9080',
    'guid:x-request-id': '1f2e3d4c-0000-4000-8000-000000000000',
    downstream_cluster: '-',
    user_agent: 'curl/8.0',
    request_size: '0',
    response_size: '1234',
    'peer.address': '10.0.0.9',
    'http.status_code': '200',
    response_flags: '-',
    node_id: 'sidecar~10.0.0.5~productpage-v1-abc.default~default.svc.cluster.local',
    zone: 'zone-a',
    component: 'proxy',
  })
  t.equal(sv.debug, undefined)

  t.match(c.traceId, /^[0-9a-f]{32}$/, 'a new trace has a 128-bit id')
  t.equal(c.parentId, undefined, 'a root span has no parentId')
  t.equal(c.kind, 'CLIENT')
  t.same(c.localEndpoint, { serviceName: 'productpage', ipv4: '10.0.0.5' })
  t.same(c.remoteEndpoint, { ipv4: '10.0.0.7', port: 9080 })
  t.equal((c.tags as Record<string, string>).error, 'true')
  t.equal((c.tags as Record<string, string>)['http.status_code'], '503')
  t.equal((c.tags as Record<string, string>).response_flags, 'UF')

  // The collector has the body before the exporter has the 202.
  await until(() => tracing.stats.reportsSent === 1)
  t.equal(tracing.stats.spansSent, 2)
  t.equal(tracing.stats.reportsSent, 1)
  t.equal(tracing.stats.reportsFailed, 0)
})

t.test('interval flush with an injected timer, and shutdown flushes the rest', async (t) => {
  const zipkin = await collector(t)
  const timer = new ManualTimer()
  const tracing = tracingFor(zipkin.url, { maxBatch: 100, timer })
  tracing.startSpan({}, 'SERVER', 'a').finish(200, '')
  await sleep(50)
  t.equal(zipkin.reports.length, 0, 'below batch size: waits for the interval')
  timer.tick()
  await zipkin.waitFor(1)
  t.equal((zipkin.reports[0].body as unknown[]).length, 1)
  tracing.startSpan({}, 'SERVER', 'b').finish(200, '')
  tracing.startSpan({}, 'SERVER', 'c').finish(200, '')
  await tracing.shutdown()
  t.equal(zipkin.reports.length, 2, 'shutdown sent the queued spans')
  t.same(
    (zipkin.reports[1].body as { name: string }[]).map((s) => s.name),
    ['b', 'c'],
  )
  t.equal(tracing.stats.spansSent, 3)
})

t.test('a dead collector (closed port) changes nothing for the caller', async (t) => {
  // Bind and close to get a port nobody listens on.
  const probe = createServer()
  probe.listen(0, '127.0.0.1')
  await once(probe, 'listening')
  const port = (probe.address() as AddressInfo).port
  probe.close()
  await once(probe, 'close')

  const timer = new ManualTimer()
  const tracing = tracingFor(`http://127.0.0.1:${port}/api/v2/spans`, { maxBatch: 1, timer, reportTimeoutMs: 500 })
  const started = process.hrtime.bigint()
  for (let i = 0; i < 20; i++) {
    const span = tracing.startSpan({}, 'SERVER', 'x')
    t.equal(span.finish(200, ''), undefined, 'finish returns synchronously')
  }
  const elapsedMs = Number(process.hrtime.bigint() - started) / 1e6
  t.ok(elapsedMs < 200, `20 requests finished in ${elapsedMs.toFixed(1)} ms`)
  await until(() => tracing.stats.reportsFailed >= 1)
  timer.tick()
  await tracing.shutdown()
  t.ok(tracing.stats.reportsFailed >= 1, `reportsFailed = ${tracing.stats.reportsFailed}`)
  t.equal(tracing.stats.spansSent, 0)
})

t.test('a collector that never answers changes nothing for the caller', async (t) => {
  const zipkin = await collector(t, 'hang')
  const timer = new ManualTimer()
  const tracing = tracingFor(zipkin.url, { maxBatch: 1, maxQueue: 5, timer, reportTimeoutMs: 300 })
  const started = process.hrtime.bigint()
  for (let i = 0; i < 50; i++) {
    const span = tracing.startSpan({}, 'SERVER', `s${i}`)
    span.finish(200, '')
  }
  const elapsedMs = Number(process.hrtime.bigint() - started) / 1e6
  t.ok(elapsedMs < 200, `50 requests finished in ${elapsedMs.toFixed(1)} ms`)
  t.ok(tracing.stats.spansDropped >= 40, `bounded queue dropped ${tracing.stats.spansDropped}`)
  await zipkin.waitFor(1)
  await until(() => tracing.stats.reportsFailed >= 1)
  t.ok(tracing.stats.reportsFailed >= 1, 'the hung report timed out and was counted')
  const shutdownStarted = Date.now()
  await tracing.shutdown()
  t.ok(Date.now() - shutdownStarted < 2000, 'shutdown is bounded by the report deadline')
})
