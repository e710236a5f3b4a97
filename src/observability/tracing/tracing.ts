import type { IncomingHttpHeaders } from 'node:http'
import { SpanKind, SpanStatusCode } from '@opentelemetry/api'
import { B3Extract, extractB3, injectB3 } from './b3'
import { ZipkinExporter, type ExporterStats, type IntervalTimer, type ReportTransport } from './exporter'
import { newSpanId, newTraceId } from './ids'
import { FerryTracerProvider, type FerrySpan, type FerryTracer } from './otel'

export interface TracingOptions {
  /** Collector endpoint (`--zipkin`); null exports nothing but still generates and propagates B3 (see README). */
  zipkinUrl: string | null
  /** 0–100; Istio's default is 1. */
  samplingPercent: number
  /** Zipkin `localEndpoint.serviceName`; see serviceNameFromLabels. */
  serviceName: string
  /** Envoy's `node_id` tag, e.g. `sidecar~10.1.2.3~reviews-v1-abc.default~default.svc.cluster.local`. */
  nodeId: string
  random?: () => number
  /** Epoch ms with fraction, for timestamps. */
  now?: () => number
  flushIntervalMs?: number
  maxBatch?: number
  maxQueue?: number

  // Additions beyond the facade the request path was promised.
  /** Envoy's `zone` tag (the node's locality zone); Envoy writes it even when empty. */
  zone?: string
  /** The proxy's IP for Zipkin `localEndpoint`. */
  localAddress?: string
  /** Deadline of one POST to the collector. Default 2000 ms. */
  reportTimeoutMs?: number
  timer?: IntervalTimer
  transport?: ReportTransport
}

/** Envoy's span tag names (source/common/tracing/tracer_impl.cc, `Tracing::Tags`), so callers build no strings. */
export const Tags = {
  HttpUrl: 'http.url',
  HttpMethod: 'http.method',
  HttpStatusCode: 'http.status_code',
  HttpProtocol: 'http.protocol',
  UpstreamCluster: 'upstream_cluster',
  UpstreamClusterName: 'upstream_cluster.name',
  UpstreamAddress: 'upstream_address',
  ResponseFlags: 'response_flags',
  RequestId: 'guid:x-request-id',
  NodeId: 'node_id',
  Zone: 'zone',
  DownstreamCluster: 'downstream_cluster',
  UserAgent: 'user_agent',
  RequestSize: 'request_size',
  ResponseSize: 'response_size',
  PeerAddress: 'peer.address',
  Component: 'component',
  Error: 'error',
} as const

export interface ProxySpan {
  readonly traceId: string
  readonly spanId: string
  readonly parentSpanId: string | null
  /** Whether this request is recorded. Guard any tag that costs something to build with it. */
  readonly sampled: boolean
  /** Writes the B3 headers the upstream must receive into an outgoing header object (lowercase keys), replacing any incoming b3 headers. */
  injectInto(headers: Record<string, string | string[] | undefined>): void
  setTag(key: string, value: string): void
  setRemoteEndpoint(address: string, port: number): void
  /** Renames the span once the route is known (Envoy's route decorator). */
  setName(name: string): void
  /** Sets the `http.status_code`, `response_flags`, `error`, `node_id`, `zone`, `component` tags and ends the span. Synchronous; never waits for the exporter. */
  finish(statusCode: number, responseFlags: string): void

  // Additions.
  /** B3 debug was requested (`x-b3-flags: 1` or `b3: …-d…`). */
  readonly debug: boolean
  /** The recording OpenTelemetry span, for `trace.setSpan(ctx, span)` so in-process spans become its children; null when unsampled. */
  readonly otelSpan: FerrySpan | null
  /** Zipkin `localEndpoint` address and port (e.g. the listener that accepted the request). */
  setLocalEndpoint(address: string, port: number): void
}

/** What the request path holds: a Tracing, or NULL_TRACING when tracing is switched off entirely. */
export interface RequestTracing {
  startSpan(incoming: IncomingHttpHeaders, kind: 'SERVER' | 'CLIENT', name: string): ProxySpan
  shutdown(): Promise<void>
  readonly stats: Readonly<ExporterStats>
}

/** Per-Tracing constants every finished span carries; shared, so a span holds one reference instead of three strings. */
interface ProxyTags {
  readonly nodeId: string
  readonly zone: string
}

class B3ProxySpan implements ProxySpan {
  readonly traceId: string
  readonly spanId: string
  readonly parentSpanId: string | null
  readonly sampled: boolean
  readonly debug: boolean
  readonly otelSpan: FerrySpan | null
  private readonly single: boolean
  private readonly tags: ProxyTags

  constructor(
    traceId: string,
    spanId: string,
    parentSpanId: string | null,
    sampled: boolean,
    debug: boolean,
    single: boolean,
    otelSpan: FerrySpan | null,
    tags: ProxyTags,
  ) {
    this.traceId = traceId
    this.spanId = spanId
    this.parentSpanId = parentSpanId
    this.sampled = sampled
    this.debug = debug
    this.single = single
    this.otelSpan = otelSpan
    this.tags = tags
  }

  injectInto(headers: Record<string, string | string[] | undefined>): void {
    // The upstream sees the proxy's span as its parent: our span id, and the caller's span id as parent.
    injectB3(headers, this.traceId, this.spanId, this.parentSpanId, this.sampled, this.debug, this.single)
  }

  setTag(key: string, value: string): void {
    if (this.otelSpan !== null) this.otelSpan.setAttribute(key, value)
  }

  setRemoteEndpoint(address: string, port: number): void {
    if (this.otelSpan !== null) this.otelSpan.setRemoteEndpoint(address, port)
  }

  setName(name: string): void {
    if (this.otelSpan !== null) this.otelSpan.updateName(name)
  }

  setLocalEndpoint(address: string, port: number): void {
    if (this.otelSpan !== null) this.otelSpan.setLocalEndpoint(address, port)
  }

  finish(statusCode: number, responseFlags: string): void {
    const span = this.otelSpan
    if (span === null || span.ended) return
    // Envoy's finalize: status "0" when no response was sent, "-" for no flags, and `error` for 5xx or no
    // response at all (a reset or downstream disconnect is a failed request too).
    span.setAttribute(Tags.HttpStatusCode, String(statusCode))
    span.setAttribute(Tags.ResponseFlags, responseFlags === '' ? '-' : responseFlags)
    span.setAttribute(Tags.NodeId, this.tags.nodeId)
    span.setAttribute(Tags.Zone, this.tags.zone)
    span.setAttribute(Tags.Component, 'proxy')
    if (statusCode === 0 || (statusCode >= 500 && statusCode < 600)) {
      span.setAttribute(Tags.Error, 'true')
      span.setStatus({ code: SpanStatusCode.ERROR })
    }
    span.end()
  }
}

const ZERO_STATS: Readonly<ExporterStats> = Object.freeze({ spansSent: 0, spansDropped: 0, reportsFailed: 0, reportsSent: 0 })

/**
 * B3 extraction and injection, sampling, and one span per proxied request, reported to Zipkin.
 * Built once per proxy from the command line; the request path calls startSpan / injectInto / finish.
 */
export class Tracing implements RequestTracing {
  /** Register with `trace.setGlobalTracerProvider(tracing.provider)` to let in-process code add spans. */
  readonly provider: FerryTracerProvider
  readonly tracer: FerryTracer
  readonly exporter: ZipkinExporter | null
  private readonly tags: ProxyTags
  // Reused for every request: extraction is synchronous, so one scratch object is enough and none is allocated.
  private readonly scratch = new B3Extract()

  constructor(opts: TracingOptions) {
    if (typeof opts.serviceName !== 'string' || opts.serviceName === '') {
      throw new TypeError('tracing: serviceName must be a non-empty string')
    }
    this.exporter =
      opts.zipkinUrl === null
        ? null
        : new ZipkinExporter({
            url: opts.zipkinUrl,
            flushIntervalMs: opts.flushIntervalMs,
            maxBatch: opts.maxBatch,
            maxQueue: opts.maxQueue,
            timeoutMs: opts.reportTimeoutMs,
            timer: opts.timer,
            transport: opts.transport,
          })
    this.provider = new FerryTracerProvider({
      serviceName: opts.serviceName,
      localAddress: opts.localAddress,
      sink: this.exporter,
      samplingPercent: opts.samplingPercent,
      random: opts.random,
      now: opts.now,
    })
    this.tracer = this.provider.tracer
    this.tags = { nodeId: opts.nodeId, zone: opts.zone ?? '' }
  }

  /** The exporter's live counters (zeros without a collector). */
  get stats(): Readonly<ExporterStats> {
    return this.exporter === null ? ZERO_STATS : this.exporter.stats
  }

  startSpan(incoming: IncomingHttpHeaders, kind: 'SERVER' | 'CLIENT', name: string): ProxySpan {
    const b3 = this.scratch
    extractB3(incoming, b3)
    // Debug forces sampling; then the caller's decision; only a request nobody decided on is sampled here.
    const sampled = b3.debug || (b3.sampled !== null ? b3.sampled : this.tracer.sampleNewTrace())
    let traceId: string
    let parentSpanId: string | null
    if (b3.traceId !== '') {
      traceId = b3.traceId
      parentSpanId = b3.spanId
    } else {
      // No usable context (absent, malformed, or a sampling-only `b3: 0|1|d`): this request starts a trace.
      traceId = newTraceId()
      parentSpanId = null
    }
    const spanId = newSpanId()
    const otelSpan =
      sampled && this.tracer.recording
        ? this.tracer.createSpan(
            name,
            kind === 'SERVER' ? SpanKind.SERVER : SpanKind.CLIENT,
            traceId,
            spanId,
            parentSpanId,
            b3.debug,
            this.tracer.now(),
          )
        : null
    return new B3ProxySpan(traceId, spanId, parentSpanId, sampled, b3.debug, b3.single, otelSpan, this.tags)
  }

  /** Best effort: sends what is queued and waits at most one report deadline. */
  async shutdown(): Promise<void> {
    if (this.exporter !== null) await this.exporter.shutdown()
  }
}

class NullProxySpan implements ProxySpan {
  readonly traceId = ''
  readonly spanId = ''
  readonly parentSpanId = null
  readonly sampled = false
  readonly debug = false
  readonly otelSpan = null
  // Tracing off means the proxy is not a B3 participant: whatever the caller sent is forwarded as it came, which
  // is what Envoy does when no tracer is configured (x-b3-* are then ordinary headers).
  injectInto(_headers: Record<string, string | string[] | undefined>): void {}
  setTag(_key: string, _value: string): void {}
  setRemoteEndpoint(_address: string, _port: number): void {}
  setName(_name: string): void {}
  setLocalEndpoint(_address: string, _port: number): void {}
  finish(_statusCode: number, _responseFlags: string): void {}
}

const NULL_PROXY_SPAN: ProxySpan = new NullProxySpan()

/**
 * Tracing switched off entirely: no ids generated, no headers touched, nothing allocated per request
 * (style habit 5: a null object, not an `enabled` flag). Contrast `new Tracing({ zipkinUrl: null, … })`, which
 * still takes part in B3 like an Istio sidecar whose collector is unreachable.
 */
export const NULL_TRACING: RequestTracing = {
  startSpan: () => NULL_PROXY_SPAN,
  shutdown: () => Promise.resolve(),
  stats: ZERO_STATS,
}

/**
 * Zipkin `localEndpoint.serviceName` for a workload: its `app` label, else the given fallback (Ferry's CLI passes
 * the workload name). Istio's own default (`APP_LABEL_AND_NAMESPACE`) appends `.<namespace>`; pass `namespace` to
 * get that form.
 */
export function serviceNameFromLabels(
  labels: Readonly<Record<string, string>> | undefined,
  fallback: string,
  namespace?: string,
): string {
  const app = labels?.app
  const base = app !== undefined && app !== '' ? app : fallback
  return namespace !== undefined && namespace !== '' ? `${base}.${namespace}` : base
}
