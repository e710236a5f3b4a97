import t from 'tap'
import type { IncomingHttpHeaders } from 'node:http'
import { context, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api'
import {
  AsyncLocalStorageContextManager,
  NULL_TRACING,
  Tags,
  Tracing,
  ZipkinExporter,
  serviceNameFromLabels,
  type TracingOptions,
  type ZipkinSpan,
} from '../../../src/observability/tracing/index'
import { ManualTimer } from '../../helpers/manual-timer'

const HEX16 = /^[0-9a-f]{16}$/
const HEX32 = /^[0-9a-f]{32}$/
const TRACE128 = '463ac35c9f6413ad48485a3953bb6124'
const TRACE64 = '463ac35c9f6413ad'
const CALLER_SPAN = 'a2fb4a1d1a96d312'
const CALLER_PARENT = '0020000000000001'

/** Records every report body; answers with `status`. */
class RecordingTransport {
  reports: ZipkinSpan[][] = []
  status = 202
  readonly send = (body: string): Promise<number> => {
    this.reports.push(JSON.parse(body) as ZipkinSpan[])
    return Promise.resolve(this.status)
  }
  get spans(): ZipkinSpan[] {
    return this.reports.flat()
  }
}

const nextTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve))

function make(over: Partial<TracingOptions> = {}): { tracing: Tracing; timer: ManualTimer; transport: RecordingTransport } {
  const timer = new ManualTimer()
  const transport = new RecordingTransport()
  let clock = 1_700_000_000_000
  const tracing = new Tracing({
    zipkinUrl: 'http://zipkin.istio-system:9411/api/v2/spans',
    samplingPercent: 100,
    serviceName: 'reviews',
    nodeId: 'sidecar~10.0.0.1~reviews-v1.default~default.svc.cluster.local',
    now: () => (clock += 1.5),
    timer,
    transport: transport.send,
    ...over,
  })
  return { tracing, timer, transport }
}

function inject(span: { injectInto(h: Record<string, string | string[] | undefined>): void }, start: Record<string, string> = {}) {
  const h: Record<string, string | string[] | undefined> = { ...start }
  span.injectInto(h)
  return h
}

t.test('new trace: 128-bit trace id, new span id, no parent', async (t) => {
  const { tracing } = make()
  const span = tracing.startSpan({}, 'SERVER', 'reviews.default:9080/*')
  t.match(span.traceId, HEX32)
  t.match(span.spanId, HEX16)
  t.equal(span.parentSpanId, null)
  t.equal(span.sampled, true)
  const h = inject(span)
  t.same(h, { 'x-b3-traceid': span.traceId, 'x-b3-spanid': span.spanId, 'x-b3-sampled': '1' })
  const other = tracing.startSpan({}, 'SERVER', 'x')
  t.not(other.traceId, span.traceId, 'every new trace gets its own id')
  t.not(other.spanId, span.spanId)
})

t.test('propagated trace: same trace id, caller span becomes parent, new span id', async (t) => {
  const { tracing } = make()
  const incoming: IncomingHttpHeaders = {
    'x-b3-traceid': TRACE128,
    'x-b3-spanid': CALLER_SPAN,
    'x-b3-parentspanid': CALLER_PARENT,
    'x-b3-sampled': '1',
  }
  const span = tracing.startSpan(incoming, 'CLIENT', 'ratings.default:9080/*')
  t.equal(span.traceId, TRACE128)
  t.equal(span.parentSpanId, CALLER_SPAN)
  t.not(span.spanId, CALLER_SPAN)
  t.match(span.spanId, HEX16)
  const h = inject(span, incoming as Record<string, string>)
  t.equal(h['x-b3-traceid'], TRACE128)
  t.equal(h['x-b3-spanid'], span.spanId, 'upstream sees our span id')
  t.equal(h['x-b3-parentspanid'], CALLER_SPAN, 'and the caller span as its parent')
  t.equal(h['x-b3-sampled'], '1')
  t.equal(h.b3, undefined, 'no single header unless the caller used it')
})

t.test('64-bit trace ids are kept', async (t) => {
  const { tracing, transport } = make()
  const span = tracing.startSpan({ 'x-b3-traceid': TRACE64, 'x-b3-spanid': CALLER_SPAN }, 'SERVER', 'x')
  t.equal(span.traceId, TRACE64)
  t.equal(inject(span)['x-b3-traceid'], TRACE64)
  t.equal(span.otelSpan?.spanContext().traceId, '0000000000000000' + TRACE64, 'OpenTelemetry sees the padded form')
  span.finish(200, '')
  await tracing.shutdown()
  t.equal(transport.spans[0].traceId, TRACE64, 'Zipkin gets the 64-bit form')
})

t.test('upper-case hex is accepted and normalised to lower case', async (t) => {
  const { tracing } = make()
  const span = tracing.startSpan({ 'x-b3-traceid': TRACE128.toUpperCase(), 'x-b3-spanid': CALLER_SPAN.toUpperCase() }, 'SERVER', 'x')
  t.equal(span.traceId, TRACE128)
  t.equal(span.parentSpanId, CALLER_SPAN)
})

t.test('single b3 header in all its forms', async (t) => {
  const { tracing } = make({ samplingPercent: 0 })
  const cases: [string, { traceId?: string; sampled: boolean; debug: boolean; state: string }][] = [
    [`${TRACE128}-${CALLER_SPAN}`, { traceId: TRACE128, sampled: false, debug: false, state: '0' }],
    [`${TRACE128}-${CALLER_SPAN}-1`, { traceId: TRACE128, sampled: true, debug: false, state: '1' }],
    [`${TRACE128}-${CALLER_SPAN}-0`, { traceId: TRACE128, sampled: false, debug: false, state: '0' }],
    [`${TRACE128}-${CALLER_SPAN}-d`, { traceId: TRACE128, sampled: true, debug: true, state: 'd' }],
    [`${TRACE128}-${CALLER_SPAN}-1-${CALLER_PARENT}`, { traceId: TRACE128, sampled: true, debug: false, state: '1' }],
    [`${TRACE64}-${CALLER_SPAN}-1`, { traceId: TRACE64, sampled: true, debug: false, state: '1' }],
    [`${TRACE64}-${CALLER_SPAN}-d-${CALLER_PARENT}`, { traceId: TRACE64, sampled: true, debug: true, state: 'd' }],
    ['1', { sampled: true, debug: false, state: '1' }],
    ['0', { sampled: false, debug: false, state: '0' }],
    ['d', { sampled: true, debug: true, state: 'd' }],
  ]
  for (const [b3, want] of cases) {
    const span = tracing.startSpan({ b3 }, 'SERVER', 'x')
    t.equal(span.sampled, want.sampled, `${b3}: sampled`)
    t.equal(span.debug, want.debug, `${b3}: debug`)
    const h = inject(span, { b3 })
    if (want.traceId !== undefined) {
      t.equal(span.traceId, want.traceId, `${b3}: trace id kept`)
      t.equal(span.parentSpanId, CALLER_SPAN, `${b3}: caller span is parent`)
      t.equal(h.b3, `${want.traceId}-${span.spanId}-${want.state}-${CALLER_SPAN}`, `${b3}: single header propagated`)
    } else {
      t.match(span.traceId, HEX32, `${b3}: sampling-only header starts a new trace`)
      t.equal(span.parentSpanId, null)
      t.equal(h.b3, `${span.traceId}-${span.spanId}-${want.state}`, `${b3}: single header propagated`)
    }
    t.equal(h['x-b3-traceid'], span.traceId, `${b3}: multi headers always written`)
    t.equal(h['x-b3-sampled'], want.sampled ? '1' : '0')
    t.equal(h['x-b3-flags'], want.debug ? '1' : undefined)
  }
})

t.test('single b3 header takes precedence over multi headers', async (t) => {
  const { tracing } = make()
  const span = tracing.startSpan(
    { b3: `${TRACE64}-${CALLER_SPAN}-1`, 'x-b3-traceid': TRACE128, 'x-b3-spanid': CALLER_PARENT },
    'SERVER',
    'x',
  )
  t.equal(span.traceId, TRACE64)
  t.equal(span.parentSpanId, CALLER_SPAN)
})

t.test('malformed single b3 header falls back to the multi headers', async (t) => {
  const { tracing } = make()
  const bad = [
    'x',
    '2',
    `${TRACE128}`,
    `${TRACE128}-`,
    `${TRACE128}-${CALLER_SPAN}-`,
    `${TRACE128}-${CALLER_SPAN}-x`,
    `${TRACE128}-${CALLER_SPAN}-11`,
    `${TRACE128}-${CALLER_SPAN}-1-`,
    `${TRACE128}-${CALLER_SPAN}-1-abc`,
    `${TRACE128}-${CALLER_SPAN}-${CALLER_PARENT}`,
    `${TRACE128}x-${CALLER_SPAN}`,
    `${'0'.repeat(32)}-${CALLER_SPAN}-1`,
    `${TRACE128}-${'0'.repeat(16)}-1`,
  ]
  for (const b3 of bad) {
    const withMulti = tracing.startSpan({ b3, 'x-b3-traceid': TRACE64, 'x-b3-spanid': CALLER_SPAN }, 'SERVER', 'x')
    t.equal(withMulti.traceId, TRACE64, `${b3}: multi headers used`)
    const alone = tracing.startSpan({ b3 }, 'SERVER', 'x')
    t.match(alone.traceId, HEX32, `${b3}: alone, a new trace`)
    t.equal(alone.parentSpanId, null)
    t.equal(inject(alone, { b3 }).b3, undefined, `${b3}: a malformed single header is not echoed`)
  }
})

t.test('invalid multi B3 starts a new trace', async (t) => {
  const { tracing } = make()
  const bad: IncomingHttpHeaders[] = [
    { 'x-b3-traceid': 'xyz', 'x-b3-spanid': CALLER_SPAN },
    { 'x-b3-traceid': TRACE128.slice(1), 'x-b3-spanid': CALLER_SPAN },
    { 'x-b3-traceid': TRACE128, 'x-b3-spanid': CALLER_SPAN + '0' },
    { 'x-b3-traceid': TRACE128, 'x-b3-spanid': 'g2fb4a1d1a96d312' },
    { 'x-b3-traceid': '0'.repeat(32), 'x-b3-spanid': CALLER_SPAN },
    { 'x-b3-traceid': TRACE128, 'x-b3-spanid': '0'.repeat(16) },
    { 'x-b3-traceid': TRACE128 },
    { 'x-b3-spanid': CALLER_SPAN },
    { 'x-b3-traceid': `${TRACE128}, ${TRACE128}`, 'x-b3-spanid': CALLER_SPAN },
  ]
  for (const h of bad) {
    const span = tracing.startSpan(h, 'SERVER', 'x')
    t.match(span.traceId, HEX32, JSON.stringify(h))
    t.not(span.traceId, TRACE128)
    t.equal(span.parentSpanId, null)
    const out = inject(span, { ...(h as Record<string, string>), 'x-b3-parentspanid': CALLER_PARENT })
    t.equal(out['x-b3-parentspanid'], undefined, 'a stale parent id is removed')
    t.equal(out['x-b3-traceid'], span.traceId)
  }
})

t.test('a valid sampling flag is honoured even when the ids are not', async (t) => {
  const { tracing } = make({ samplingPercent: 0 })
  const span = tracing.startSpan({ 'x-b3-traceid': 'nope', 'x-b3-spanid': CALLER_SPAN, 'x-b3-sampled': '1' }, 'SERVER', 'x')
  t.equal(span.sampled, true)
  t.equal(span.parentSpanId, null)
})

t.test('incoming sampling decision wins over the percentage', async (t) => {
  const at100 = make({ samplingPercent: 100 }).tracing
  const at0 = make({ samplingPercent: 0 }).tracing
  const ctx = { 'x-b3-traceid': TRACE128, 'x-b3-spanid': CALLER_SPAN }
  t.equal(at100.startSpan({ ...ctx, 'x-b3-sampled': '0' }, 'SERVER', 'x').sampled, false, 'sampled 0 at 100%')
  t.equal(at0.startSpan({ ...ctx, 'x-b3-sampled': '1' }, 'SERVER', 'x').sampled, true, 'sampled 1 at 0%')
  t.equal(at0.startSpan({ ...ctx, 'x-b3-sampled': 'true' }, 'SERVER', 'x').sampled, true, 'old-style "true"')
  t.equal(at100.startSpan({ ...ctx, 'x-b3-sampled': 'false' }, 'SERVER', 'x').sampled, false, 'old-style "false"')
  t.equal(at0.startSpan({ ...ctx, 'x-b3-sampled': 'maybe' }, 'SERVER', 'x').sampled, false, 'garbage: the percentage decides')
  t.equal(at100.startSpan({ ...ctx, 'x-b3-sampled': 'maybe' }, 'SERVER', 'x').sampled, true)
  const unsampled = at100.startSpan({ ...ctx, 'x-b3-sampled': '0' }, 'SERVER', 'x')
  const h = inject(unsampled)
  t.equal(h['x-b3-sampled'], '0', 'unsampled requests still propagate the decision')
  t.equal(h['x-b3-traceid'], TRACE128)
  t.equal(h['x-b3-spanid'], unsampled.spanId)
  t.equal(h['x-b3-parentspanid'], CALLER_SPAN)
})

t.test('debug flag forces sampling and is propagated', async (t) => {
  const { tracing, transport } = make({ samplingPercent: 0 })
  const span = tracing.startSpan(
    { 'x-b3-traceid': TRACE128, 'x-b3-spanid': CALLER_SPAN, 'x-b3-sampled': '0', 'x-b3-flags': '1' },
    'SERVER',
    'x',
  )
  t.equal(span.sampled, true)
  t.equal(span.debug, true)
  const h = inject(span)
  t.equal(h['x-b3-flags'], '1')
  t.equal(h['x-b3-sampled'], '1')
  span.finish(200, '')
  const plain = tracing.startSpan({ 'x-b3-traceid': TRACE128, 'x-b3-spanid': CALLER_SPAN, 'x-b3-flags': '0' }, 'SERVER', 'x')
  t.equal(plain.sampled, false, 'x-b3-flags other than 1 is not debug')
  t.equal(inject(plain, { 'x-b3-flags': '0' })['x-b3-flags'], undefined, 'and is not forwarded')
  await tracing.shutdown()
  t.equal(transport.spans.length, 1)
  t.equal(transport.spans[0].debug, true, 'Zipkin debug flag set')
})

t.test('sampling percentage uses the injected random source', async (t) => {
  let r = 0
  const { tracing } = make({ samplingPercent: 25, random: () => r })
  r = 0.2499
  t.equal(tracing.startSpan({}, 'SERVER', 'x').sampled, true)
  r = 0.25
  t.equal(tracing.startSpan({}, 'SERVER', 'x').sampled, false)
  r = 0.9
  t.equal(tracing.startSpan({}, 'SERVER', 'x').sampled, false)
  t.throws(() => make({ samplingPercent: 101 }), RangeError)
  t.throws(() => make({ samplingPercent: -1 }), RangeError)
  t.throws(() => make({ samplingPercent: Number.NaN }), RangeError)
})

t.test('sampling 0% sends nothing, 100% sends everything', async (t) => {
  for (const [pct, want] of [
    [0, 0],
    [100, 50],
  ] as const) {
    const { tracing, transport, timer } = make({ samplingPercent: pct, random: () => 0.5 })
    for (let i = 0; i < 50; i++) {
      const span = tracing.startSpan({}, 'SERVER', 'x')
      t.equal(span.otelSpan === null, pct === 0)
      span.finish(200, '')
    }
    timer.tick()
    await nextTurn()
    t.equal(transport.spans.length, want, `${pct}%`)
    t.equal(tracing.stats.spansSent, want)
    await tracing.shutdown()
  }
})

t.test('injectInto replaces every incoming B3 header', async (t) => {
  const { tracing } = make()
  const incoming = {
    b3: `${TRACE128}-${CALLER_SPAN}-d-${CALLER_PARENT}`,
    'x-b3-traceid': TRACE64,
    'x-b3-spanid': CALLER_PARENT,
    'x-b3-parentspanid': CALLER_PARENT,
    'x-b3-sampled': '0',
    'x-b3-flags': '1',
    'x-request-id': 'keep-me',
  }
  const single = tracing.startSpan(incoming, 'SERVER', 'x')
  const h = inject(single, incoming)
  t.same(h, {
    b3: `${TRACE128}-${single.spanId}-d-${CALLER_SPAN}`,
    'x-b3-traceid': TRACE128,
    'x-b3-spanid': single.spanId,
    'x-b3-parentspanid': CALLER_SPAN,
    'x-b3-sampled': '1',
    'x-b3-flags': '1',
    'x-request-id': 'keep-me',
  })
  // A root span must drop the caller's stale parent and single header.
  const root = tracing.startSpan({}, 'SERVER', 'x')
  const h2 = inject(root, incoming)
  t.same(h2, {
    'x-b3-traceid': root.traceId,
    'x-b3-spanid': root.spanId,
    'x-b3-sampled': '1',
    'x-request-id': 'keep-me',
  })
})

t.test('finish sets Envoy tags, error on 5xx and on no response', async (t) => {
  const { tracing, transport } = make({ zone: 'us-east-1a', localAddress: '10.0.0.1' })
  const ok = tracing.startSpan({}, 'SERVER', 'reviews.default:9080/*')
  ok.setTag(Tags.HttpMethod, 'GET')
  ok.setTag(Tags.RequestId, 'abc')
  ok.setRemoteEndpoint('::ffff:10.0.0.9', 40000)
  ok.finish(200, '')
  ok.finish(503, 'UF') // a second finish changes nothing
  const failed = tracing.startSpan({}, 'CLIENT', 'ratings.default:9080/*')
  failed.setLocalEndpoint('10.0.0.1', 15001)
  failed.finish(503, 'UF')
  const reset = tracing.startSpan({}, 'CLIENT', 'x')
  reset.finish(0, 'DC')
  const notFound = tracing.startSpan({}, 'CLIENT', 'x')
  notFound.finish(404, 'NR')
  await tracing.shutdown()
  const [a, b, c, d] = transport.spans
  t.same(a.tags, {
    'http.method': 'GET',
    'guid:x-request-id': 'abc',
    'http.status_code': '200',
    response_flags: '-',
    node_id: 'sidecar~10.0.0.1~reviews-v1.default~default.svc.cluster.local',
    zone: 'us-east-1a',
    component: 'proxy',
  })
  t.equal(a.kind, 'SERVER')
  t.same(a.localEndpoint, { serviceName: 'reviews', ipv4: '10.0.0.1' })
  t.same(a.remoteEndpoint, { ipv4: '10.0.0.9', port: 40000 })
  t.equal(b.kind, 'CLIENT')
  t.equal(b.tags?.error, 'true')
  t.equal(b.tags?.response_flags, 'UF')
  t.equal(b.tags?.['otel.status_code'], 'ERROR')
  t.same(b.localEndpoint, { serviceName: 'reviews', ipv4: '10.0.0.1', port: 15001 })
  t.equal(c.tags?.error, 'true')
  t.equal(c.tags?.['http.status_code'], '0')
  t.equal(d.tags?.error, undefined, '4xx is not an error')
})

t.test('timestamps and durations are integer microseconds from the injected clock', async (t) => {
  let now = 1_700_000_000_123.4567
  const { tracing, transport } = make({ now: () => now })
  const span = tracing.startSpan({}, 'SERVER', 'x')
  now += 12.3456
  span.finish(200, '')
  const instant = tracing.startSpan({}, 'SERVER', 'y')
  instant.finish(200, '')
  await tracing.shutdown()
  const [a, b] = transport.spans
  t.equal(a.timestamp, 1_700_000_000_123_457)
  t.equal(a.duration, 12_346)
  t.ok(Number.isInteger(a.timestamp) && Number.isInteger(a.duration))
  t.equal(b.duration, 1, 'never 0, which Zipkin reads as unfinished')
})

t.test('unsampled requests allocate no span and record nothing', async (t) => {
  const { tracing, transport } = make({ samplingPercent: 0 })
  const span = tracing.startSpan({}, 'SERVER', 'x')
  t.equal(span.otelSpan, null)
  span.setTag('k', 'v')
  span.setRemoteEndpoint('1.2.3.4', 1)
  t.doesNotThrow(() => span.finish(500, 'UF'))
  await tracing.shutdown()
  t.equal(transport.reports.length, 0)
})

t.test('no collector: B3 still generated and propagated, nothing recorded', async (t) => {
  const tracing = new Tracing({ zipkinUrl: null, samplingPercent: 100, serviceName: 'svc', nodeId: 'n' })
  const span = tracing.startSpan({ 'x-b3-traceid': TRACE128, 'x-b3-spanid': CALLER_SPAN }, 'SERVER', 'x')
  t.equal(span.sampled, true)
  t.equal(span.otelSpan, null)
  t.equal(inject(span)['x-b3-parentspanid'], CALLER_SPAN)
  span.finish(200, '')
  t.same(tracing.stats, { spansSent: 0, spansDropped: 0, reportsFailed: 0, reportsSent: 0 })
  await tracing.shutdown()
})

t.test('NULL_TRACING leaves headers untouched', async (t) => {
  const incoming = { 'x-b3-traceid': TRACE128, 'x-b3-spanid': CALLER_SPAN, b3: '1' }
  const span = NULL_TRACING.startSpan(incoming, 'SERVER', 'x')
  t.equal(span.sampled, false)
  t.same(inject(span, incoming), incoming)
  t.doesNotThrow(() => {
    span.setTag('a', 'b')
    span.finish(500, 'UF')
  })
  t.equal(NULL_TRACING.startSpan({}, 'CLIENT', 'y'), span, 'one shared null span')
  t.equal(NULL_TRACING.stats.spansSent, 0)
  await NULL_TRACING.shutdown()
})

t.test('serviceNameFromLabels', async (t) => {
  t.equal(serviceNameFromLabels({ app: 'reviews', version: 'v1' }, 'reviews-v1'), 'reviews')
  t.equal(serviceNameFromLabels({ version: 'v1' }, 'reviews-v1'), 'reviews-v1')
  t.equal(serviceNameFromLabels({ app: '' }, 'reviews-v1'), 'reviews-v1')
  t.equal(serviceNameFromLabels(undefined, 'istio-ingressgateway'), 'istio-ingressgateway')
  t.equal(serviceNameFromLabels({ app: 'reviews' }, 'x', 'default'), 'reviews.default')
})

t.test('OpenTelemetry API: registered provider, child spans of the proxy span', async (t) => {
  const { tracing, transport } = make()
  t.teardown(() => {
    trace.disable()
    context.disable()
  })
  t.equal(trace.setGlobalTracerProvider(tracing.provider), true)
  t.equal(context.setGlobalContextManager(new AsyncLocalStorageContextManager()), true)
  const tracer = trace.getTracer('ferry-filter')

  const proxy = tracing.startSpan({ 'x-b3-traceid': TRACE64, 'x-b3-spanid': CALLER_SPAN }, 'SERVER', 'x')
  t.ok(proxy.otelSpan)
  const ctx = trace.setSpan(context.active(), proxy.otelSpan!)
  const child = tracer.startSpan('ext-authz', { kind: SpanKind.CLIENT, attributes: { attempt: 1, ok: true } }, ctx)
  t.equal(child.isRecording(), true)
  t.equal(child.spanContext().traceId, '0000000000000000' + TRACE64)
  child
    .setAttribute('list', ['a', 'b'])
    .setAttributes({ n: 2 })
    .addEvent('sent')
    .addEvent('got', { bytes: 3 })
    .setStatus({ code: SpanStatusCode.ERROR, message: 'denied' })
    .updateName('ext-authz check')
  child.recordException(new Error('boom'))
  child.end()
  t.equal(child.isRecording(), false)
  child.setAttribute('late', 'ignored')

  const active = tracer.startActiveSpan('inner', (s) => {
    t.equal(trace.getActiveSpan(), s)
    const nested = tracer.startSpan('nested')
    nested.end()
    t.equal(nested.spanContext().traceId, s.spanContext().traceId, 'the active span is the parent')
    s.end()
    return 42
  })
  t.equal(active, 42)
  t.equal(trace.getActiveSpan(), undefined, 'no span active outside')

  proxy.finish(200, '')
  await tracing.shutdown()
  const byName = new Map(transport.spans.map((s) => [s.name, s]))
  const c = byName.get('ext-authz check')!
  t.ok(c, 'renamed child exported')
  t.equal(c.traceId, TRACE64, 'child of a 64-bit trace keeps the 64-bit form')
  t.equal(c.parentId, proxy.spanId)
  t.equal(c.kind, 'CLIENT')
  t.same(c.tags, { attempt: '1', ok: 'true', list: '["a","b"]', n: '2', 'otel.status_code': 'ERROR', error: 'denied' })
  t.same(
    c.annotations?.map((a) => a.value.split(' ')[0]),
    ['sent', 'got', 'exception'],
  )
  t.ok(c.annotations?.every((a) => Number.isInteger(a.timestamp)))
  const inner = byName.get('inner')!
  t.equal(inner.kind, undefined, 'INTERNAL spans have no Zipkin kind')
  t.equal(inner.parentId, undefined, 'no active span: a root')
  t.match(inner.traceId, HEX32)
  t.equal(byName.get('nested')?.parentId, inner.id)
})

t.test('OpenTelemetry API: unsampled and collector-less spans are non-recording', async (t) => {
  const { tracing } = make({ samplingPercent: 0 })
  const tracer = tracing.provider.getTracer('x')
  const root = tracer.startSpan('root')
  t.equal(root.isRecording(), false)
  t.equal(root.spanContext().traceFlags, 0)
  const none = new Tracing({ zipkinUrl: null, samplingPercent: 100, serviceName: 's', nodeId: 'n' })
  const s = none.provider.getTracer('x').startSpan('root')
  t.equal(s.isRecording(), false)
  t.equal(s.spanContext().traceFlags, 1, 'the decision still propagates')
  await tracing.shutdown()
})

t.test('exporter: batches by size', async (t) => {
  const { tracing, transport } = make({ maxBatch: 3 })
  for (let i = 0; i < 7; i++) tracing.startSpan({}, 'SERVER', `s${i}`).finish(200, '')
  t.equal(transport.reports.length, 0, 'nothing is sent synchronously from finish()')
  await nextTurn()
  await nextTurn()
  t.same(
    transport.reports.map((r) => r.length),
    [3, 3],
    'full batches go without waiting for the interval; the remainder waits',
  )
  t.equal(tracing.exporter?.queued, 1)
  await tracing.shutdown()
  t.same(transport.reports.map((r) => r.length), [3, 3, 1], 'shutdown flushes the rest')
})

t.test('exporter: batches by interval', async (t) => {
  const { tracing, transport, timer } = make({ maxBatch: 100 })
  tracing.startSpan({}, 'SERVER', 'a').finish(200, '')
  tracing.startSpan({}, 'SERVER', 'b').finish(200, '')
  await nextTurn()
  t.equal(transport.reports.length, 0)
  timer.tick()
  await nextTurn()
  t.same(transport.reports.map((r) => r.map((s) => s.name)), [['a', 'b']])
  timer.tick()
  await nextTurn()
  t.equal(transport.reports.length, 1, 'an empty queue sends nothing')
  t.equal(tracing.stats.spansSent, 2)
  t.equal(tracing.stats.reportsSent, 1)
  await tracing.shutdown()
  t.equal(timer.active, 0, 'shutdown stops the timer')
})

t.test('exporter: a full queue drops the oldest spans and counts them', async (t) => {
  const { tracing, transport, timer } = make({ maxBatch: 100, maxQueue: 3 })
  for (let i = 0; i < 5; i++) tracing.startSpan({}, 'SERVER', `s${i}`).finish(200, '')
  t.equal(tracing.stats.spansDropped, 2)
  timer.tick()
  await nextTurn()
  t.same(transport.spans.map((s) => s.name), ['s2', 's3', 's4'])
  await tracing.shutdown()
})

t.test('exporter: failed reports are counted, their spans not retried', async (t) => {
  const { tracing, transport, timer } = make()
  transport.status = 500
  tracing.startSpan({}, 'SERVER', 'a').finish(200, '')
  timer.tick()
  await nextTurn()
  t.equal(tracing.stats.reportsFailed, 1)
  t.equal(tracing.stats.spansSent, 0)
  transport.status = 202
  timer.tick()
  await nextTurn()
  t.equal(transport.reports.length, 1, 'not retried')
  await tracing.shutdown()
})

t.test('exporter: a transport that throws or rejects never reaches the caller', async (t) => {
  const timer = new ManualTimer()
  for (const transport of [
    (): Promise<number> => {
      throw new Error('sync')
    },
    (): Promise<number> => Promise.reject(new Error('async')),
  ]) {
    const exporter = new ZipkinExporter({ url: 'http://127.0.0.1:1/api/v2/spans', maxBatch: 1, timer, transport })
    const tracing = new Tracing({ zipkinUrl: null, samplingPercent: 100, serviceName: 's', nodeId: 'n' })
    const span = tracing.tracer.createSpan('x', SpanKind.SERVER, 'a'.repeat(32), 'b'.repeat(16), null, false, 1)
    t.doesNotThrow(() => exporter.export(span))
    await nextTurn()
    await nextTurn()
    t.equal(exporter.stats.reportsFailed, 1)
    await exporter.shutdown()
  }
})

t.test('exporter: concurrency is bounded; queued spans wait instead of opening more reports', async (t) => {
  const timer = new ManualTimer()
  const resolvers: ((status: number) => void)[] = []
  const exporter = new ZipkinExporter({
    url: 'http://127.0.0.1:1/api/v2/spans',
    maxBatch: 1,
    maxConcurrentReports: 2,
    timer,
    transport: () => new Promise<number>((resolve) => resolvers.push(resolve)),
  })
  const tracing = new Tracing({ zipkinUrl: null, samplingPercent: 100, serviceName: 's', nodeId: 'n' })
  for (let i = 0; i < 5; i++) {
    const span = tracing.tracer.createSpan(`s${i}`, SpanKind.SERVER, 'a'.repeat(32), 'b'.repeat(16), null, false, 1)
    span.end(2)
    exporter.export(span)
  }
  await nextTurn()
  timer.tick()
  t.equal(resolvers.length, 2, 'two reports in flight at most')
  t.equal(exporter.queued, 3)
  resolvers[0](202)
  await nextTurn()
  t.equal(resolvers.length, 3, 'a finished report makes room for the next full batch')
  for (const r of resolvers) r(202)
  await exporter.shutdown()
  for (const r of resolvers) r(202)
  t.equal(exporter.queued, 0)
})

t.test('exporter: validates its options at construction', async (t) => {
  t.throws(() => new ZipkinExporter({ url: 'not a url' }), TypeError)
  t.throws(() => new ZipkinExporter({ url: 'ftp://zipkin/api/v2/spans' }), TypeError)
  t.throws(() => new ZipkinExporter({ url: 'http://zipkin:9411/api/v2/spans', maxBatch: 0 }), TypeError)
  t.throws(() => new ZipkinExporter({ url: 'http://zipkin:9411/api/v2/spans', maxQueue: 1.5 }), TypeError)
  t.throws(() => make({ serviceName: '' }), TypeError)
})

t.test('exporter: spans offered after shutdown are dropped', async (t) => {
  const { tracing, transport } = make()
  const span = tracing.startSpan({}, 'SERVER', 'late')
  await tracing.shutdown()
  span.finish(200, '')
  t.equal(tracing.stats.spansDropped, 1)
  t.equal(transport.reports.length, 0)
})

t.test('ids: lower-case hex, unique across pool refills', async (t) => {
  const { tracing } = make({ samplingPercent: 0 })
  const seen = new Set<string>()
  let bad = 0
  // 20 000 requests draw 960 000 hex characters: dozens of pool refills.
  for (let i = 0; i < 20000; i++) {
    const s = tracing.startSpan({}, 'SERVER', 'x')
    if (!HEX32.test(s.traceId) || !HEX16.test(s.spanId) || s.traceId.startsWith('0'.repeat(16))) bad++
    seen.add(s.traceId)
    seen.add(s.spanId)
  }
  t.equal(bad, 0)
  t.equal(seen.size, 40000)
})
