import {
  context as contextApi,
  SpanKind,
  SpanStatusCode,
  TraceFlags,
  trace,
  type Context,
  type Exception,
  type Link,
  type Span,
  type SpanAttributes,
  type SpanAttributeValue,
  type SpanContext,
  type SpanOptions,
  type SpanStatus,
  type TimeInput,
  type Tracer,
  type TracerProvider,
} from '@opentelemetry/api'
import { newSpanId, newTraceId, toOtelTraceId, toZipkinTraceId } from './ids'
import { endpointFor, type ZipkinAnnotation, type ZipkinKind, type ZipkinReportable, type ZipkinSpan } from './zipkin'

/**
 * Ferry's own minimal OpenTelemetry tracer: enough of the API for the proxy and for code that registers it with
 * `trace.setGlobalTracerProvider`, without the SDK. Only sampled spans are recorded; an unsampled start returns the
 * API's non-recording span, so instrumentation stays cheap when the trace is not kept.
 *
 * Not supported, because Zipkin v2 has no place for them: links (accepted and ignored), instrumentation scope
 * (every `getTracer` name shares one tracer), trace state.
 */

/** Where ended sampled spans go: the Zipkin exporter, or a test double. */
export interface SpanSink {
  export(span: ZipkinReportable): void
}

export interface FerryTracerOptions {
  /** Zipkin `localEndpoint.serviceName`; see serviceNameFromLabels. */
  serviceName: string
  /** The proxy's own IP for `localEndpoint`; omitted when unknown. */
  localAddress?: string
  localPort?: number
  /** null: nothing is exported, every span the API starts is non-recording (context still propagates). */
  sink: SpanSink | null
  /** Percentage (0–100) of new root traces to sample; a parent's decision always wins. */
  samplingPercent: number
  /** In [0, 1); injected so sampling is testable (style habit 6). */
  random?: () => number
  /** Epoch milliseconds, fractions allowed. */
  now?: () => number
}

/** Epoch ms from the high-resolution clock: Date.now() has only millisecond precision, too coarse for durations. */
export function defaultNow(): number {
  return performance.timeOrigin + performance.now()
}

/**
 * The OpenTelemetry SDK's reading of TimeInput: numbers below the time origin are `performance.now()` values,
 * larger ones epoch milliseconds; an HrTime is [seconds, nanoseconds] since the epoch.
 */
function toEpochMs(t: TimeInput): number {
  if (typeof t === 'number') return t < performance.timeOrigin ? performance.timeOrigin + t : t
  if (t instanceof Date) return t.getTime()
  return t[0] * 1e3 + t[1] / 1e6
}

function zipkinKind(kind: SpanKind): ZipkinKind | undefined {
  switch (kind) {
    case SpanKind.SERVER:
      return 'SERVER'
    case SpanKind.CLIENT:
      return 'CLIENT'
    case SpanKind.PRODUCER:
      return 'PRODUCER'
    case SpanKind.CONSUMER:
      return 'CONSUMER'
    default:
      // Zipkin's model for an in-process span is "no kind".
      return undefined
  }
}

function tagValue(v: SpanAttributeValue): string {
  // Zipkin v2 tags are strings only; arrays are JSON, as the OpenTelemetry Zipkin exporter writes them.
  return typeof v === 'string' ? v : Array.isArray(v) ? JSON.stringify(v) : String(v)
}

interface SpanEvent {
  timeMs: number
  name: string
  attributes: SpanAttributes | undefined
}

/** A recording, sampled span. Ids are kept in B3 form (a 64-bit trace id stays 16 hex); see spanContext(). */
export class FerrySpan implements Span, ZipkinReportable {
  name: string
  readonly kind: SpanKind
  readonly traceId: string
  readonly spanId: string
  readonly parentSpanId: string | null
  /** B3 debug: reported as Zipkin `debug: true` so the collector keeps it past its own sampling. */
  debug: boolean
  readonly startMs: number
  endMs = -1

  private readonly tracer: FerryTracer
  // A Map, not an object: keys are caller-controlled and "__proto__" must stay an ordinary tag.
  private readonly attributes = new Map<string, SpanAttributeValue>()
  private events: SpanEvent[] | null = null
  private status: SpanStatus = { code: SpanStatusCode.UNSET }
  private localAddress: string | undefined
  private localPort: number
  private remoteAddress: string | null = null
  private remotePort = 0
  private ctx: SpanContext | null = null

  constructor(
    tracer: FerryTracer,
    name: string,
    kind: SpanKind,
    traceId: string,
    spanId: string,
    parentSpanId: string | null,
    debug: boolean,
    startMs: number,
  ) {
    this.tracer = tracer
    this.name = name
    this.kind = kind
    this.traceId = traceId
    this.spanId = spanId
    this.parentSpanId = parentSpanId
    this.debug = debug
    this.startMs = startMs
    this.localAddress = tracer.localAddress
    this.localPort = tracer.localPort
  }

  get ended(): boolean {
    return this.endMs >= 0
  }

  /** OpenTelemetry's view: trace ids are always 32 hex, so a 64-bit B3 id is zero-padded here (and only here). */
  spanContext(): SpanContext {
    if (this.ctx === null) {
      this.ctx = { traceId: toOtelTraceId(this.traceId), spanId: this.spanId, traceFlags: TraceFlags.SAMPLED, isRemote: false }
    }
    return this.ctx
  }

  setAttribute(key: string, value: SpanAttributeValue): this {
    // The API says attributes set after end() are ignored, and undefined / null values are no-ops.
    if (this.endMs < 0 && value !== undefined && value !== null) this.attributes.set(key, value)
    return this
  }

  setAttributes(attributes: SpanAttributes): this {
    for (const key of Object.keys(attributes)) {
      const v = attributes[key]
      if (v !== undefined) this.setAttribute(key, v)
    }
    return this
  }

  getAttribute(key: string): SpanAttributeValue | undefined {
    return this.attributes.get(key)
  }

  addEvent(name: string, attributesOrStartTime?: SpanAttributes | TimeInput, startTime?: TimeInput): this {
    if (this.endMs >= 0) return this
    let attributes: SpanAttributes | undefined
    let time = startTime
    if (
      typeof attributesOrStartTime === 'number' ||
      attributesOrStartTime instanceof Date ||
      Array.isArray(attributesOrStartTime)
    ) {
      time = attributesOrStartTime as TimeInput
    } else {
      attributes = attributesOrStartTime
    }
    const ev: SpanEvent = { timeMs: time === undefined ? this.tracer.now() : toEpochMs(time), name, attributes }
    if (this.events === null) this.events = [ev]
    else this.events.push(ev)
    return this
  }

  addLink(_link: Link): this {
    return this
  }

  addLinks(_links: Link[]): this {
    return this
  }

  setStatus(status: SpanStatus): this {
    // Per the API, OK is final, and UNSET never overrides a status that was set.
    if (this.endMs >= 0 || this.status.code === SpanStatusCode.OK || status.code === SpanStatusCode.UNSET) return this
    this.status = status
    return this
  }

  updateName(name: string): this {
    if (this.endMs < 0) this.name = name
    return this
  }

  recordException(exception: Exception, time?: TimeInput): void {
    const attributes: SpanAttributes = {}
    if (typeof exception === 'string') {
      attributes['exception.message'] = exception
    } else {
      const type = exception.name ?? (exception.code !== undefined ? String(exception.code) : undefined)
      if (type !== undefined) attributes['exception.type'] = type
      if (exception.message !== undefined) attributes['exception.message'] = exception.message
      if (exception.stack !== undefined) attributes['exception.stacktrace'] = exception.stack
    }
    this.addEvent('exception', attributes, time)
  }

  /** Zipkin `localEndpoint` address and port when they differ from the tracer's (e.g. the listener's port). */
  setLocalEndpoint(address: string, port: number): void {
    this.localAddress = address
    this.localPort = port
  }

  /** Zipkin `remoteEndpoint`: the downstream peer on a SERVER span, the chosen endpoint on a CLIENT span. */
  setRemoteEndpoint(address: string, port: number): void {
    this.remoteAddress = address
    this.remotePort = port
  }

  end(endTime?: TimeInput): void {
    if (this.endMs >= 0) return
    const end = endTime === undefined ? this.tracer.now() : toEpochMs(endTime)
    // A clock step backwards must not produce a negative duration.
    this.endMs = end < this.startMs ? this.startMs : end
    this.tracer.onEnd(this)
  }

  isRecording(): boolean {
    return this.endMs < 0
  }

  toZipkin(): ZipkinSpan {
    const timestamp = Math.round(this.startMs * 1000)
    const span: ZipkinSpan = {
      traceId: toZipkinTraceId(this.traceId),
      id: this.spanId,
      name: this.name,
      timestamp,
      // Zipkin reads 0 or a missing duration as "unfinished"; a proxied request always took some time.
      duration: Math.max(1, Math.round(this.endMs * 1000) - timestamp),
      localEndpoint: endpointFor(this.localAddress ?? null, this.localPort, this.tracer.serviceName),
    }
    if (this.parentSpanId !== null) span.parentId = this.parentSpanId
    const kind = zipkinKind(this.kind)
    if (kind !== undefined) span.kind = kind
    if (this.remoteAddress !== null) span.remoteEndpoint = endpointFor(this.remoteAddress, this.remotePort)
    if (this.events !== null) {
      span.annotations = this.events.map(
        (e): ZipkinAnnotation => ({
          timestamp: Math.round(e.timeMs * 1000),
          value: e.attributes === undefined || Object.keys(e.attributes).length === 0 ? e.name : `${e.name} ${JSON.stringify(e.attributes)}`,
        }),
      )
    }
    const tags: Record<string, string> = Object.create(null) as Record<string, string>
    let n = 0
    for (const [k, v] of this.attributes) {
      tags[k] = tagValue(v)
      n++
    }
    if (this.status.code !== SpanStatusCode.UNSET) {
      // The OpenTelemetry → Zipkin mapping: the status code as a tag, and `error` carrying the description.
      tags['otel.status_code'] = this.status.code === SpanStatusCode.OK ? 'OK' : 'ERROR'
      n++
      if (this.status.code === SpanStatusCode.ERROR && tags.error === undefined) tags.error = this.status.message ?? 'true'
    }
    if (n > 0) span.tags = tags
    if (this.debug) span.debug = true
    return span
  }
}

/**
 * One tracer for every instrumentation name. The proxy's request spans use createSpan(), which takes the ids and
 * the sampling decision the B3 layer already made; everything else goes through the standard startSpan().
 */
export class FerryTracer implements Tracer {
  readonly serviceName: string
  readonly localAddress: string | undefined
  readonly localPort: number
  readonly now: () => number
  private readonly sink: SpanSink | null
  private readonly samplingRatio: number
  private readonly random: () => number

  constructor(opts: FerryTracerOptions) {
    const pct = opts.samplingPercent
    if (typeof pct !== 'number' || !(pct >= 0 && pct <= 100)) {
      throw new RangeError(`tracing: sampling percent must be between 0 and 100, got ${pct}`)
    }
    this.serviceName = opts.serviceName
    this.localAddress = opts.localAddress
    this.localPort = opts.localPort ?? 0
    this.sink = opts.sink
    this.samplingRatio = pct / 100
    this.random = opts.random ?? Math.random
    this.now = opts.now ?? defaultNow
  }

  /** Whether anything is exported; when false no span is ever recorded. */
  get recording(): boolean {
    return this.sink !== null
  }

  /** The sampling decision for a trace nobody decided on yet. */
  sampleNewTrace(): boolean {
    // 0 and 100 skip the random source, so "all" and "none" are exact whatever it returns.
    if (this.samplingRatio <= 0) return false
    if (this.samplingRatio >= 1) return true
    return this.random() < this.samplingRatio
  }

  startSpan(name: string, options?: SpanOptions, ctx?: Context): Span {
    const parentCtx = options?.root === true ? undefined : ctx ?? contextApi.active()
    const parentSpan = parentCtx === undefined ? undefined : trace.getSpan(parentCtx)
    const parent = parentSpan?.spanContext()
    let traceId: string
    let parentSpanId: string | null
    let sampled: boolean
    let debug = false
    if (parent !== undefined && trace.isSpanContextValid(parent)) {
      // A Ferry parent keeps its B3 trace id width; any other parent only has the 32-hex OpenTelemetry form.
      traceId = parentSpan instanceof FerrySpan ? parentSpan.traceId : parent.traceId
      if (parentSpan instanceof FerrySpan) debug = parentSpan.debug
      parentSpanId = parent.spanId
      sampled = (parent.traceFlags & TraceFlags.SAMPLED) !== 0
    } else {
      traceId = newTraceId()
      parentSpanId = null
      sampled = this.sampleNewTrace()
    }
    const spanId = newSpanId()
    if (!sampled || this.sink === null) {
      return trace.wrapSpanContext({
        traceId: toOtelTraceId(traceId),
        spanId,
        traceFlags: sampled ? TraceFlags.SAMPLED : TraceFlags.NONE,
      })
    }
    const startMs = options?.startTime === undefined ? this.now() : toEpochMs(options.startTime)
    const span = new FerrySpan(this, name, options?.kind ?? SpanKind.INTERNAL, traceId, spanId, parentSpanId, debug, startMs)
    if (options?.attributes !== undefined) span.setAttributes(options.attributes)
    return span
  }

  startActiveSpan<F extends (span: Span) => unknown>(name: string, fn: F): ReturnType<F>
  startActiveSpan<F extends (span: Span) => unknown>(name: string, options: SpanOptions, fn: F): ReturnType<F>
  startActiveSpan<F extends (span: Span) => unknown>(name: string, options: SpanOptions, ctx: Context, fn: F): ReturnType<F>
  startActiveSpan<F extends (span: Span) => unknown>(
    name: string,
    a?: SpanOptions | F,
    b?: Context | F,
    c?: F,
  ): ReturnType<F> {
    let options: SpanOptions | undefined
    let ctx: Context | undefined
    let fn: F
    if (typeof a === 'function') {
      fn = a
    } else if (typeof b === 'function') {
      options = a
      fn = b
    } else {
      options = a
      ctx = b
      fn = c as F
    }
    const parent = ctx ?? contextApi.active()
    const span = this.startSpan(name, options, parent)
    return contextApi.with(trace.setSpan(parent, span), () => fn(span) as ReturnType<F>)
  }

  /**
   * A recording span with ids chosen by the caller (the B3 layer). Only for sampled requests: an unsampled
   * request must not pay for a span object.
   */
  createSpan(
    name: string,
    kind: SpanKind,
    traceId: string,
    spanId: string,
    parentSpanId: string | null,
    debug: boolean,
    startMs: number,
  ): FerrySpan {
    return new FerrySpan(this, name, kind, traceId, spanId, parentSpanId, debug, startMs)
  }

  /** Called by FerrySpan.end(). */
  onEnd(span: FerrySpan): void {
    if (this.sink !== null) this.sink.export(span)
  }
}

export class FerryTracerProvider implements TracerProvider {
  readonly tracer: FerryTracer

  constructor(opts: FerryTracerOptions) {
    this.tracer = new FerryTracer(opts)
  }

  getTracer(_name: string, _version?: string): Tracer {
    return this.tracer
  }
}
