// Istio's standard metrics (istio_requests_total and friends), which Kiali and Istio's Grafana
// dashboards read. In Istio the stats filter builds the label set from the peer's metadata on
// every request; Ferry splits it the way habit 2 asks: the labels that are fixed for a
// (reporter, source, destination) triple are resolved into a recorder when config is compiled,
// and a request only picks the series for its (response_code, response_flags, grpc status) from a
// small per-recorder cache. No label object or metric name is built after a combination has
// been seen once.
//
// These families live in Envoy's "custom stat namespace" for Istio, so in Prometheus they carry no
// `envoy_` prefix (prometheus_stats.cc `metricName`). In /stats and /stats?format=json Ferry
// prints them as `istio_requests_total{reporter="source",...}`; Envoy prints the same data with its
// internal tag encoding (which changed between Istio's Wasm and native stats filters), so this
// form is Ferry's own, chosen to be greppable with the same `filter` regex as Prometheus.

import { ENVOY_DEFAULT_BUCKETS, StatName, type CounterStat, type HistogramStat } from './metric'
import type { StatRegistry } from './registry'

export interface IstioStaticLabels {
  reporter: 'source' | 'destination' | 'waypoint'
  source_workload: string
  source_workload_namespace: string
  source_principal: string
  source_app: string
  source_version: string
  source_canonical_service: string
  source_canonical_revision: string
  source_cluster: string
  destination_workload: string
  destination_workload_namespace: string
  destination_principal: string
  destination_app: string
  destination_version: string
  destination_service: string
  destination_service_name: string
  destination_service_namespace: string
  destination_canonical_service: string
  destination_canonical_revision: string
  destination_cluster: string
  request_protocol: string
  connection_security_policy: string
}

export interface IstioRequestRecorder {
  /**
   * One finished request. `responseFlags` is `-` when there are none and `grpcStatus` is `''`
   * when the request is not gRPC, as Istio labels them.
   */
  record (responseCode: number, responseFlags: string, grpcStatus: string, durationMs: number, requestBytes: number, responseBytes: number): void
}

export interface IstioTcpRecorder {
  opened (): void
  /** `flags` as in the access log; `-` for a clean close. */
  closed (flags: string): void
  sent (bytes: number): void
  received (bytes: number): void
}

export interface IstioMetrics {
  /** Resolved once per (reporter, source identity, destination identity) when config is compiled. */
  handle (labels: IstioStaticLabels): IstioRequestRecorder
  tcpHandle (labels: IstioStaticLabels): IstioTcpRecorder
}

/** Label names in the order Istio's label table lists them; also the order they are printed in. */
export const ISTIO_STATIC_LABELS: ReadonlyArray<keyof IstioStaticLabels> = Object.freeze([
  'reporter',
  'source_workload', 'source_workload_namespace', 'source_principal', 'source_app', 'source_version',
  'source_canonical_service', 'source_canonical_revision', 'source_cluster',
  'destination_workload', 'destination_workload_namespace', 'destination_principal', 'destination_app',
  'destination_version', 'destination_service', 'destination_service_name', 'destination_service_namespace',
  'destination_canonical_service', 'destination_canonical_revision', 'destination_cluster',
  'request_protocol', 'connection_security_policy'
])

/** The Istio families, declared once like Envoy's tables. */
export const ISTIO_METRICS = {
  requests: { name: 'istio_requests_total', help: 'Requests handled by the proxy (Istio standard metric)' },
  duration: { name: 'istio_request_duration_milliseconds', help: 'Request duration in milliseconds (Istio standard metric)' },
  requestBytes: { name: 'istio_request_bytes', help: 'Request size in bytes, headers and body (Istio standard metric)' },
  responseBytes: { name: 'istio_response_bytes', help: 'Response size in bytes, headers and body (Istio standard metric)' },
  tcpSent: { name: 'istio_tcp_sent_bytes_total', help: 'Bytes sent to the downstream on TCP connections (Istio standard metric)' },
  tcpReceived: { name: 'istio_tcp_received_bytes_total', help: 'Bytes received from the downstream on TCP connections (Istio standard metric)' },
  tcpOpened: { name: 'istio_tcp_connections_opened_total', help: 'TCP connections opened (Istio standard metric)' },
  tcpClosed: { name: 'istio_tcp_connections_closed_total', help: 'TCP connections closed (Istio standard metric)' }
} as const

const UNKNOWN = 'unknown'

function escapeLabelValue (v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"')
}

/** `family{a="b",...}`: the /stats name of one Istio series. */
function seriesName (family: string, labels: Readonly<Record<string, string>>): string {
  const parts: string[] = []
  for (const [k, v] of Object.entries(labels)) parts.push(`${k}="${escapeLabelValue(v)}"`)
  return `${family}{${parts.join(',')}}`
}

function seriesId (family: string, labels: Readonly<Record<string, string>>): StatName {
  return new StatName(seriesName(family, labels), family, labels)
}

/** Fills gaps with `unknown` (as Istio does) and fixes key order; done once per handle. */
function normalize (labels: IstioStaticLabels): Readonly<Record<string, string>> {
  const out: Record<string, string> = {}
  for (const k of ISTIO_STATIC_LABELS) {
    const v = labels[k]
    out[k] = typeof v === 'string' && v !== '' ? v : UNKNOWN
  }
  return Object.freeze(out)
}

class IstioRequestSeries {
  constructor (
    readonly code: number,
    readonly flags: string,
    readonly grpc: string,
    readonly requests: CounterStat,
    readonly duration: HistogramStat,
    readonly requestBytes: HistogramStat,
    readonly responseBytes: HistogramStat
  ) {}
}

class IstioRequestRecorderImpl implements IstioRequestRecorder {
  /** Most requests of a handle end the same way (200, `-`, ``), so one compare usually suffices. */
  private last: IstioRequestSeries | null = null
  private readonly byCode = new Map<number, IstioRequestSeries[]>()

  constructor (private readonly registry: StatRegistry, private readonly labels: Readonly<Record<string, string>>) {}

  record (responseCode: number, responseFlags: string, grpcStatus: string, durationMs: number, requestBytes: number, responseBytes: number): void {
    let s = this.last
    if (s === null || s.code !== responseCode || s.flags !== responseFlags || s.grpc !== grpcStatus) {
      s = this.series(responseCode, responseFlags, grpcStatus)
      this.last = s
    }
    s.requests.inc()
    s.duration.observe(durationMs)
    s.requestBytes.observe(requestBytes)
    s.responseBytes.observe(responseBytes)
  }

  private series (code: number, flags: string, grpc: string): IstioRequestSeries {
    let list = this.byCode.get(code)
    if (list === undefined) {
      list = []
      this.byCode.set(code, list)
    }
    for (const s of list) if (s.flags === flags && s.grpc === grpc) return s
    // First time this outcome is seen for this handle: the only place labels are built.
    const labels = Object.freeze({
      ...this.labels,
      response_code: String(code),
      grpc_response_status: grpc,
      response_flags: flags === '' ? '-' : flags
    })
    const r = this.registry
    const s = new IstioRequestSeries(
      code, flags, grpc,
      r.counter(seriesId(ISTIO_METRICS.requests.name, labels), ISTIO_METRICS.requests.help),
      r.histogram(seriesId(ISTIO_METRICS.duration.name, labels), ISTIO_METRICS.duration.help, ENVOY_DEFAULT_BUCKETS),
      r.histogram(seriesId(ISTIO_METRICS.requestBytes.name, labels), ISTIO_METRICS.requestBytes.help, ENVOY_DEFAULT_BUCKETS),
      r.histogram(seriesId(ISTIO_METRICS.responseBytes.name, labels), ISTIO_METRICS.responseBytes.help, ENVOY_DEFAULT_BUCKETS)
    )
    list.push(s)
    return s
  }
}

/**
 * Istio labels every TCP metric with `response_flags`. Ferry reports bytes and opens under `-`
 * and a close under the flags it closed with; Istio re-reports bytes periodically with the
 * flags current at that time, a difference dashboards (which sum over flags) do not see.
 */
class IstioTcpRecorderImpl implements IstioTcpRecorder {
  private readonly openedTotal: CounterStat
  private readonly sentTotal: CounterStat
  private readonly receivedTotal: CounterStat
  private readonly closedByFlags = new Map<string, CounterStat>()

  constructor (private readonly registry: StatRegistry, private readonly labels: Readonly<Record<string, string>>) {
    const clean = Object.freeze({ ...labels, response_flags: '-' })
    this.openedTotal = registry.counter(seriesId(ISTIO_METRICS.tcpOpened.name, clean), ISTIO_METRICS.tcpOpened.help)
    this.sentTotal = registry.counter(seriesId(ISTIO_METRICS.tcpSent.name, clean), ISTIO_METRICS.tcpSent.help)
    this.receivedTotal = registry.counter(seriesId(ISTIO_METRICS.tcpReceived.name, clean), ISTIO_METRICS.tcpReceived.help)
  }

  opened (): void { this.openedTotal.inc() }
  sent (bytes: number): void { this.sentTotal.inc(bytes) }
  received (bytes: number): void { this.receivedTotal.inc(bytes) }

  closed (flags: string): void {
    let c = this.closedByFlags.get(flags)
    if (c === undefined) {
      const labels = Object.freeze({ ...this.labels, response_flags: flags === '' ? '-' : flags })
      c = this.registry.counter(seriesId(ISTIO_METRICS.tcpClosed.name, labels), ISTIO_METRICS.tcpClosed.help)
      this.closedByFlags.set(flags, c)
    }
    c.inc()
  }
}

export class IstioMetricsImpl implements IstioMetrics {
  // Keyed by the joined label values: built at compile time only, never per request.
  private readonly requestHandles = new Map<string, IstioRequestRecorderImpl>()
  private readonly tcpHandles = new Map<string, IstioTcpRecorderImpl>()

  constructor (private readonly registry: StatRegistry) {}

  handle (labels: IstioStaticLabels): IstioRequestRecorder {
    const normalized = normalize(labels)
    const key = Object.values(normalized).join('\u0000')
    let h = this.requestHandles.get(key)
    if (h === undefined) {
      h = new IstioRequestRecorderImpl(this.registry, normalized)
      this.requestHandles.set(key, h)
    }
    return h
  }

  tcpHandle (labels: IstioStaticLabels): IstioTcpRecorder {
    const normalized = normalize(labels)
    const key = Object.values(normalized).join('\u0000')
    let h = this.tcpHandles.get(key)
    if (h === undefined) {
      h = new IstioTcpRecorderImpl(this.registry, normalized)
      this.tcpHandles.set(key, h)
    }
    return h
  }
}
