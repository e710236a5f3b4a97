// The stats store: the one object the rest of Ferry asks for stat handles (when config is
// compiled) and the admin server asks for output (when scraped). See table.ts for what exists.
//
// Output forms, all from the same objects:
// - `envoyText()`  — Envoy's `/stats`: `name: value` for counters and gauges sorted by name, then
//   histograms sorted by name as `name: P0(nan,1) P25(nan,1.5) ... P100(nan,9)` or
//   `name: No recorded values`. The first number of each pair is Envoy's per-flush-interval
//   value; Ferry has no flush interval, so it is always `nan` (what Envoy prints for an empty
//   interval). Quantiles are interpolated from the Prometheus buckets (see metric.ts).
// - `json()`       — Envoy's `/stats?format=json`: `{stats: [{name, value}..., {histograms:
//   {supported_quantiles, computed_quantiles: [{name, values: [{interval, cumulative}]}]}}]}`,
//   with `interval: null` for the reason above and `cumulative: null` when there are no samples.
// - `prometheus()` — Envoy's `/stats/prometheus` through prom-client (prometheus.ts).

import { Registry } from 'prom-client'
import { HistogramStat, SUPPORTED_QUANTILES, sanitizeStatName, type Counter, type CounterStat, type Gauge } from './metric'
import { Scope, StatRegistry, type AnyStat } from './registry'
import { FerryRegistry } from './prometheus'
import { IstioMetricsImpl, type IstioMetrics } from './istio'
import {
  CIRCUIT_BREAKER_STATS, CLUSTER_MANAGER_STATS, CLUSTER_STATS, DYNAMIC_STAT_HELP, FAULT_STATS,
  HTTP_CONN_MANAGER_STATS, LISTENER_MANAGER_STATS, LISTENER_STATS, OUTLIER_DETECTION_STATS,
  SERVER_STATS, TRACING_STATS, ZIPKIN_TRACER_STATS, type StatHandles
} from './table'

export interface ClusterStats extends StatHandles<typeof CLUSTER_STATS> {
  /** The cluster name as given, e.g. `outbound|9080|v2|reviews.default.svc.cluster.local`. */
  readonly name: string
  readonly outlier_detection: StatHandles<typeof OUTLIER_DETECTION_STATS>
  /** Envoy's `circuit_breakers.default.*` (Istio programs only the default priority). */
  readonly circuit_breakers: StatHandles<typeof CIRCUIT_BREAKER_STATS>
  /**
   * Counts one response: upstream_rq_<code> and upstream_rq_<N>xx, via a small per-code cache (no
   * string building after the first time a code is seen). Envoy charges `upstream_rq_completed`
   * at the same point; that counter is a plain handle here and the caller increments it.
   * Codes outside 100–999 are ignored (they cannot come from an HTTP parser).
   */
  responseCode (code: number): void
}

export interface HttpConnManagerStats extends StatHandles<typeof HTTP_CONN_MANAGER_STATS> {
  readonly statPrefix: string
  /** `http.<prefix>.fault.*` */
  readonly fault: StatHandles<typeof FAULT_STATS>
  /** `http.<prefix>.tracing.*` */
  readonly tracing: StatHandles<typeof TRACING_STATS>
  /** Counts downstream_rq_<N>xx (Envoy keeps no per-code downstream counter). Caller increments downstream_rq_completed. */
  responseCode (code: number): void
}

export interface ListenerStats extends StatHandles<typeof LISTENER_STATS> {
  /** The address part of the stat name, `0.0.0.0_8080`. */
  readonly address: string
}

/** Envoy's `server.state` values, by name. */
export type ServerState = 'live' | 'draining' | 'pre_initializing' | 'initializing'
const SERVER_STATE_VALUE: Readonly<Record<ServerState, number>> = { live: 0, draining: 1, pre_initializing: 2, initializing: 3 }

export interface ServerStats {
  /**
   * Starts as `initializing`, like Envoy; whoever binds the listeners sets `live`, and shutdown
   * sets `draining`. The admin `/ready` handler reads it.
   */
  state: ServerState
  readonly live: number
  /** Seconds since the store was created. */
  readonly uptime: number
  readonly concurrency: number
  readonly memory_allocated: number
  readonly memory_heap_size: number
  readonly memory_physical_size: number
  /** Sum of `downstream_cx_active` over all listeners. */
  readonly total_connections: number
  readonly version: number
}

export interface StatsStoreOptions {
  /** Monotonic milliseconds; `performance.now` by default. Injected so uptime is testable. */
  now?: () => number
  /** `server.concurrency`; Ferry runs one event loop per process, so 1 by default. */
  concurrency?: number
  /** Ferry's version, `major.minor.patch`, for `server.version`. */
  version?: string
  /** Registry to expose through; a fresh one by default so tests and processes do not share state. */
  registry?: Registry
}

/** The Zipkin exporter's live counts (its `ExporterStats`), read by shape so stats need not know tracing. */
export interface ZipkinCounts {
  readonly spansSent: number
  readonly spansDropped: number
  readonly reportsSent: number
  readonly reportsFailed: number
}

type ResponseClass = 1 | 2 | 3 | 4 | 5

/**
 * `<prefix>_1xx` … `<prefix>_5xx` of one scope, created on first use like Envoy's CodeStats. The
 * array is indexed by the class digit so counting is an index, not a lookup.
 */
class ResponseClassCounters {
  private readonly byClass: Array<CounterStat | null> = [null, null, null, null, null, null]

  constructor (private readonly registry: StatRegistry, private readonly scope: Scope, private readonly stat: string, private readonly help: string) {}

  get (cls: ResponseClass): CounterStat {
    let c = this.byClass[cls]
    if (c === null) {
      c = this.registry.counter(this.scope.statName(`${this.stat}_${cls}xx`, this.stat, { response_code_class: `${cls}xx` }), this.help)
      this.byClass[cls] = c
    }
    return c
  }

  /** Every counter created so far, for removal with the scope. */
  created (): CounterStat[] {
    return this.byClass.filter((c): c is CounterStat => c !== null)
  }
}

class ResponseCodeCounters {
  readonly code: number
  constructor (readonly codeCounter: CounterStat, readonly classCounter: CounterStat | null) {
    this.code = Number(codeCounter.id.labels.response_code)
  }
}

// Class and interface share a name so the table-built properties are typed on the class without
// listing them twice; the constructor creates every one of them (StatRegistry.attach).
// eslint-disable-next-line @typescript-eslint/no-unsafe-declaration-merging
interface ClusterStatsImpl extends StatHandles<typeof CLUSTER_STATS> {}
// eslint-disable-next-line @typescript-eslint/no-unsafe-declaration-merging
class ClusterStatsImpl implements ClusterStats {
  readonly outlier_detection: StatHandles<typeof OUTLIER_DETECTION_STATS>
  readonly circuit_breakers: StatHandles<typeof CIRCUIT_BREAKER_STATS>
  /** Every stat this cluster created, so removal does not have to search by name. */
  readonly owned: AnyStat[] = []
  private readonly scope: Scope
  private readonly classes: ResponseClassCounters
  private readonly codes = new Map<number, ResponseCodeCounters>()
  private lastCode: ResponseCodeCounters | null = null

  constructor (private readonly registry: StatRegistry, readonly name: string) {
    // Ferry tags the whole cluster name. Istio's `cluster_name` tag regex only recognises names
    // ending in `.svc.cluster.local` and cuts any other host at its first dot
    // (`outbound|443||api.example.com` → cluster_name `outbound|443||api`, metric
    // `envoy_cluster_example_com_upstream_rq_total`); Ferry deliberately does not copy that.
    const statName = sanitizeStatName(name)
    this.scope = new Scope(`cluster.${statName}.`, 'cluster.', Object.freeze({ cluster_name: statName }))
    registry.attach(this, this.scope, CLUSTER_STATS, this.owned)
    const od = {}
    registry.attach(od, this.scope.child('outlier_detection'), OUTLIER_DETECTION_STATS, this.owned)
    this.outlier_detection = od as StatHandles<typeof OUTLIER_DETECTION_STATS>
    const cb = {}
    registry.attach(cb, this.scope.child('circuit_breakers').child('default'), CIRCUIT_BREAKER_STATS, this.owned)
    this.circuit_breakers = cb as StatHandles<typeof CIRCUIT_BREAKER_STATS>
    this.classes = new ResponseClassCounters(registry, this.scope, 'upstream_rq', DYNAMIC_STAT_HELP['cluster.upstream_rq'])
  }

  responseCode (code: number): void {
    let c = this.lastCode
    if (c === null || c.code !== code) {
      const found = this.codes.get(code) ?? this.createCode(code)
      if (found === null) return
      c = this.lastCode = found
    }
    c.codeCounter.value++
    if (c.classCounter !== null) c.classCounter.value++
  }

  private createCode (code: number): ResponseCodeCounters | null {
    if (!Number.isInteger(code) || code < 100 || code > 999) return null
    const counter = this.registry.counter(
      this.scope.statName(`upstream_rq_${code}`, 'upstream_rq', { response_code: String(code) }),
      DYNAMIC_STAT_HELP['cluster.upstream_rq']
    )
    const cls = Math.floor(code / 100)
    const entry = new ResponseCodeCounters(counter, cls <= 5 ? this.classes.get(cls as ResponseClass) : null)
    this.codes.set(code, entry)
    return entry
  }

  /** Everything to unregister, including the response-code counters created lazily. */
  allStats (): AnyStat[] {
    const codeCounters: AnyStat[] = []
    for (const c of this.codes.values()) codeCounters.push(c.codeCounter)
    return [...this.owned, ...codeCounters, ...this.classes.created()]
  }
}

// eslint-disable-next-line @typescript-eslint/no-unsafe-declaration-merging
interface HttpConnManagerStatsImpl extends StatHandles<typeof HTTP_CONN_MANAGER_STATS> {}
// eslint-disable-next-line @typescript-eslint/no-unsafe-declaration-merging
class HttpConnManagerStatsImpl implements HttpConnManagerStats {
  readonly fault: StatHandles<typeof FAULT_STATS>
  readonly tracing: StatHandles<typeof TRACING_STATS>
  readonly owned: AnyStat[] = []
  private readonly classes: ResponseClassCounters

  constructor (registry: StatRegistry, readonly statPrefix: string) {
    // Ferry always extracts `http_conn_manager_prefix`. Istio's tag regex only matches prefixes
    // made of digits, dots and hex letters, so `outbound_0.0.0.0_8080` stays in the metric name
    // there; one family with a label is what Envoy's own default tags give and is easier to query.
    const prefix = sanitizeStatName(statPrefix)
    const scope = new Scope(`http.${prefix}.`, 'http.', Object.freeze({ http_conn_manager_prefix: prefix }))
    registry.attach(this, scope, HTTP_CONN_MANAGER_STATS, this.owned)
    const fault = {}
    registry.attach(fault, scope.child('fault'), FAULT_STATS, this.owned)
    this.fault = fault as StatHandles<typeof FAULT_STATS>
    const tracing = {}
    registry.attach(tracing, scope.child('tracing'), TRACING_STATS, this.owned)
    this.tracing = tracing as StatHandles<typeof TRACING_STATS>
    this.classes = new ResponseClassCounters(registry, scope, 'downstream_rq', DYNAMIC_STAT_HELP['http.downstream_rq'])
  }

  responseCode (code: number): void {
    const cls = (code / 100) | 0
    if (cls >= 1 && cls <= 5) this.classes.get(cls as ResponseClass).value++
  }

  allStats (): AnyStat[] {
    return [...this.owned, ...this.classes.created()]
  }
}

// eslint-disable-next-line @typescript-eslint/no-unsafe-declaration-merging
interface ListenerStatsImpl extends StatHandles<typeof LISTENER_STATS> {}
// eslint-disable-next-line @typescript-eslint/no-unsafe-declaration-merging
class ListenerStatsImpl implements ListenerStats {
  readonly owned: AnyStat[] = []
  constructor (registry: StatRegistry, readonly address: string) {
    const scope = new Scope(`listener.${address}.`, 'listener.', Object.freeze({ listener_address: address }))
    registry.attach(this, scope, LISTENER_STATS, this.owned)
  }
}

class ServerStatsImpl implements ServerStats {
  state: ServerState = 'initializing'
  private readonly startedAt: number

  constructor (
    private readonly now: () => number,
    readonly concurrency: number,
    readonly version: number,
    private readonly listeners: ReadonlyMap<string, ListenerStatsImpl>
  ) {
    this.startedAt = now()
  }

  get live (): number { return this.state === 'draining' ? 0 : 1 }
  get uptime (): number { return Math.floor((this.now() - this.startedAt) / 1000) }
  get memory_allocated (): number { return process.memoryUsage().heapUsed }
  get memory_heap_size (): number { return process.memoryUsage().heapTotal }
  get memory_physical_size (): number { return process.memoryUsage.rss() }
  get total_connections (): number {
    let n = 0
    for (const l of this.listeners.values()) n += l.downstream_cx_active.value
    return n
  }

  get stateValue (): number { return SERVER_STATE_VALUE[this.state] }
}

/** `0.1.0` → 1000; anything unparsable → 0. */
function versionNumber (version: string): number {
  const m = /^(\d+)\.(\d+)\.(\d+)/.exec(version)
  return m === null ? 0 : Number(m[1]) * 1_000_000 + Number(m[2]) * 1000 + Number(m[3])
}

/** A `filter` that can be tested repeatedly: a `g` or `y` flag would make `test` stateful. */
function statelessFilter (filter: RegExp | undefined): RegExp | null {
  if (filter === undefined) return null
  return filter.global || filter.sticky ? new RegExp(filter.source, filter.flags.replace(/[gy]/g, '')) : filter
}

function byName (a: { name: string }, b: { name: string }): number {
  return a.name < b.name ? -1 : a.name > b.name ? 1 : 0
}

/** Envoy prints doubles in their shortest form; 6 significant digits keeps interpolation noise out. */
function formatQuantile (v: number): string {
  return Number.isNaN(v) ? 'nan' : String(Number(v.toPrecision(6)))
}

export interface EnvoyHistogramsJson {
  supported_quantiles: number[]
  computed_quantiles: Array<{ name: string, values: Array<{ interval: number | null, cumulative: number | null }> }>
}

export interface StatsJson {
  stats: Array<{ name: string, value: number } | { histograms: EnvoyHistogramsJson }>
}

export class StatsStore {
  /** Content type of `prometheus()` output. */
  static readonly PROMETHEUS_CONTENT_TYPE: string = Registry.PROMETHEUS_CONTENT_TYPE

  /** The prom-client registry `/stats/prometheus` renders; other modules may register metrics in it. */
  readonly registry: Registry
  readonly server: ServerStats
  readonly istio: IstioMetrics
  private readonly stats: StatRegistry
  private readonly clusters = new Map<string, ClusterStatsImpl>()
  private readonly connManagers = new Map<string, HttpConnManagerStatsImpl>()
  private readonly listeners = new Map<string, ListenerStatsImpl>()
  private readonly clusterManager: StatHandles<typeof CLUSTER_MANAGER_STATS>
  private readonly listenerManager: StatHandles<typeof LISTENER_MANAGER_STATS>
  /** Run before any output is rendered: brings counters kept elsewhere (the Zipkin exporter's) up to date. */
  private readonly beforeRead: Array<() => void> = []

  constructor (opts: StatsStoreOptions = {}) {
    this.registry = opts.registry ?? new FerryRegistry()
    this.stats = new StatRegistry(this.registry)
    const now = opts.now ?? (() => performance.now())
    const concurrency = opts.concurrency ?? 1
    if (!Number.isInteger(concurrency) || concurrency < 1) throw new RangeError(`stats: concurrency must be a positive integer, got ${concurrency}`)
    const server = new ServerStatsImpl(now, concurrency, versionNumber(opts.version ?? '0.0.0'), this.listeners)
    this.server = server
    this.istio = new IstioMetricsImpl(this.stats)

    // server.* and the *_manager gauges are computed when read, so they are registered with a
    // reader instead of being attached as plain gauges.
    const serverScope = new Scope('server.', 'server.', Object.freeze({}))
    const serverReaders: Readonly<Record<keyof typeof SERVER_STATS.gauges, () => number>> = {
      live: () => server.live,
      state: () => server.stateValue,
      uptime: () => server.uptime,
      concurrency: () => server.concurrency,
      memory_allocated: () => server.memory_allocated,
      memory_heap_size: () => server.memory_heap_size,
      memory_physical_size: () => server.memory_physical_size,
      total_connections: () => server.total_connections,
      parent_connections: () => 0,
      version: () => server.version,
      hot_restart_epoch: () => 0
    }
    for (const [stat, help] of Object.entries(SERVER_STATS.gauges)) {
      this.stats.gauge(serverScope.statName(stat), help, serverReaders[stat as keyof typeof serverReaders])
    }

    this.clusterManager = this.managerStats('cluster_manager', CLUSTER_MANAGER_STATS, { active_clusters: () => this.clusters.size })
    this.listenerManager = this.managerStats('listener_manager', LISTENER_MANAGER_STATS, { total_listeners_active: () => this.listeners.size })
  }

  /** Stats of one cluster, created on first use and cached per name. */
  cluster (name: string): ClusterStats {
    let c = this.clusters.get(name)
    if (c === undefined) {
      c = new ClusterStatsImpl(this.stats, name)
      this.clusters.set(name, c)
      this.clusterManager.cluster_added.inc()
    }
    return c
  }

  /**
   * Drops a cluster's stats when a config reload removes it. Envoy keeps a removed cluster's stats
   * alive while anything still references them and (with `stats_eviction`) ages them out later;
   * Ferry removes them at once. Requests still holding the old handles keep counting into
   * objects nobody prints, which is harmless; a later `cluster(name)` starts again from zero.
   */
  removeCluster (name: string): void {
    const c = this.clusters.get(name)
    if (c === undefined) return
    this.clusters.delete(name)
    for (const s of c.allStats()) this.stats.remove(s)
    this.clusterManager.cluster_removed.inc()
  }

  /** `http.<stat_prefix>.*`; Istio's prefixes look like `outbound_0.0.0.0_8080`, `inbound_0.0.0.0_15006`. */
  httpConnManager (statPrefix: string): HttpConnManagerStats {
    let h = this.connManagers.get(statPrefix)
    if (h === undefined) {
      h = new HttpConnManagerStatsImpl(this.stats, statPrefix)
      this.connManagers.set(statPrefix, h)
    }
    return h
  }

  removeHttpConnManager (statPrefix: string): void {
    const h = this.connManagers.get(statPrefix)
    if (h === undefined) return
    this.connManagers.delete(statPrefix)
    for (const s of h.allStats()) this.stats.remove(s)
  }

  /** `listener.<address>.*`; `0.0.0.0:8080` and `0.0.0.0_8080` name the same listener (Envoy turns `:` into `_`). */
  listener (address: string): ListenerStats {
    const key = sanitizeStatName(address)
    let l = this.listeners.get(key)
    if (l === undefined) {
      l = new ListenerStatsImpl(this.stats, key)
      this.listeners.set(key, l)
      this.listenerManager.listener_added.inc()
    }
    return l
  }

  removeListener (address: string): void {
    const key = sanitizeStatName(address)
    const l = this.listeners.get(key)
    if (l === undefined) return
    this.listeners.delete(key)
    for (const s of l.owned) this.stats.remove(s)
    this.listenerManager.listener_removed.inc()
  }

  /**
   * `tracing.zipkin.*` from the exporter's own counts. The exporter must not pay for stats on its
   * path and cannot import them, so the counts are copied into ordinary counters whenever stats
   * are read, as the increase since the last read: `/reset_counters` then zeroes them like any other.
   */
  zipkinTracer (source: ZipkinCounts): void {
    const scope = new Scope('tracing.zipkin.', 'tracing.zipkin.', Object.freeze({}))
    const h = {}
    this.stats.attach(h, scope, ZIPKIN_TRACER_STATS, [])
    const handles = h as StatHandles<typeof ZIPKIN_TRACER_STATS>
    const seen = { spansSent: 0, spansDropped: 0, reportsSent: 0, reportsFailed: 0 }
    this.beforeRead.push(() => {
      handles.spans_sent.inc(source.spansSent - seen.spansSent)
      handles.spans_dropped.inc(source.spansDropped - seen.spansDropped)
      handles.reports_sent.inc(source.reportsSent - seen.reportsSent)
      handles.reports_failed.inc(source.reportsFailed - seen.reportsFailed)
      seen.spansSent = source.spansSent
      seen.spansDropped = source.spansDropped
      seen.reportsSent = source.reportsSent
      seen.reportsFailed = source.reportsFailed
    })
  }

  private refresh (): void {
    for (const fn of this.beforeRead) fn()
  }

  /** Envoy `/stats` text. */
  envoyText (filter?: RegExp): string {
    this.refresh()
    const re = statelessFilter(filter)
    const lines: string[] = []
    for (const s of this.scalars(re)) lines.push(`${s.name}: ${s.value}`)
    for (const h of this.histogramsSorted(re)) {
      if (h.count === 0) {
        lines.push(`${h.id.name}: No recorded values`)
        continue
      }
      const parts: string[] = []
      for (const q of SUPPORTED_QUANTILES) parts.push(`P${q}(nan,${formatQuantile(h.quantile(q / 100))})`)
      lines.push(`${h.id.name}: ${parts.join(' ')}`)
    }
    return lines.length === 0 ? '' : `${lines.join('\n')}\n`
  }

  /** Envoy `/stats?format=json`. */
  json (filter?: RegExp): StatsJson {
    this.refresh()
    const re = statelessFilter(filter)
    const stats: StatsJson['stats'] = this.scalars(re)
    const hs = this.histogramsSorted(re)
    if (hs.length > 0) {
      stats.push({
        histograms: {
          supported_quantiles: [...SUPPORTED_QUANTILES],
          computed_quantiles: hs.map((h) => ({
            name: h.id.name,
            values: SUPPORTED_QUANTILES.map((q) => {
              const v = h.quantile(q / 100)
              return { interval: null, cumulative: Number.isNaN(v) ? null : Number(v.toPrecision(6)) }
            })
          }))
        }
      })
    }
    return { stats }
  }

  /** Envoy `/stats/prometheus`: `envoy_*` families plus Istio's `istio_*`, in the text exposition format 0.0.4. */
  async prometheus (): Promise<string> {
    this.refresh()
    return await this.registry.metrics()
  }

  /**
   * `POST /reset_counters`: zeroes every counter (Istio's included). Gauges describe current state
   * and histograms are left alone, as in Envoy.
   */
  resetCounters (): void {
    this.refresh()
    for (const c of this.stats.counters.values()) c.value = 0
  }

  private scalars (re: RegExp | null): Array<{ name: string, value: number }> {
    const out: Array<{ name: string, value: number }> = []
    for (const c of this.stats.counters.values()) if (re === null || re.test(c.id.name)) out.push({ name: c.id.name, value: c.value })
    for (const g of this.stats.gauges.values()) if (re === null || re.test(g.id.name)) out.push({ name: g.id.name, value: g.value })
    return out.sort(byName)
  }

  private histogramsSorted (re: RegExp | null): HistogramStat[] {
    const out: HistogramStat[] = []
    for (const h of this.stats.histograms.values()) if (re === null || re.test(h.id.name)) out.push(h)
    return out.sort((a, b) => byName(a.id, b.id))
  }

  private managerStats<T extends typeof CLUSTER_MANAGER_STATS | typeof LISTENER_MANAGER_STATS> (
    root: string, table: T, readers: Readonly<Record<keyof T['gauges'], () => number>>
  ): StatHandles<T> {
    const scope = new Scope(`${root}.`, `${root}.`, Object.freeze({}))
    const handles: Record<string, Counter | Gauge> = {}
    for (const [stat, help] of Object.entries(table.counters)) handles[stat] = this.stats.counter(scope.statName(stat), help)
    for (const [stat, help] of Object.entries(table.gauges)) {
      handles[stat] = this.stats.gauge(scope.statName(stat), help, readers[stat as keyof T['gauges']])
    }
    return handles as StatHandles<T>
  }
}
