// Prometheus exposition through prom-client. prom-client owns the registry (so other parts of
// Ferry, or prom-client's default process metrics, can register into the same one and come out of
// the same `/stats/prometheus`) and the text format (HELP/TYPE lines, label escaping, number
// formatting). It does not own the values: each family below is a prom-client metric whose
// `get()` reads Ferry's plain counters at scrape time. prom-client's own `inc(labels)` hashes the
// label object on every call, which is what the hot path must not do (see bench/micro/stats.bench.js).
//
// Rendering: prom-client formats every sample from a labels object on every scrape (about 2 µs a
// line; 100 clusters are ~15k lines, i.e. tens of milliseconds of event loop per scrape, which a
// proxy's requests would wait out). `FerryRegistry.metrics()` therefore asks Ferry's own families
// for their text, built from a `family{labels}` prefix each stat renders once, and leaves any
// other metric registered in the same registry to prom-client's formatter. The families still
// implement prom-client's `get()`, so `getMetricsAsJSON()` and `Registry.merge` see the same data.

import { Counter as PromCounter, Gauge as PromGauge, Histogram as PromHistogram, Registry } from 'prom-client'
import type { CounterStat, GaugeLike, HistogramStat, StatName } from './metric'

/** The sample shape prom-client's registry renders (its typings omit `sharedLabels`). */
interface Sample {
  value: number
  labels: Readonly<Record<string, string>>
  sharedLabels: Readonly<Record<string, string>>
  metricName?: string
}

interface FamilyConfig { name: string, help: string, registers: Registry[] }

const NO_LABELS: Readonly<Record<string, string>> = Object.freeze({})

/** The exposition format's label value escaping (the same three characters prom-client escapes). */
function escapeLabelValue (v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"')
}

function formatLabels (labels: Readonly<Record<string, string>>, first?: string): string {
  const parts: string[] = first === undefined ? [] : [first]
  for (const [k, v] of Object.entries(labels)) parts.push(`${k}="${escapeLabelValue(v)}"`)
  return parts.length === 0 ? '' : `{${parts.join(',')}}`
}

/** prom-client's number format (`getValueAsString`), so both renderers agree. */
function formatValue (v: number): string {
  if (Number.isFinite(v)) return `${v}`
  return Number.isNaN(v) ? 'Nan' : v < 0 ? '-Inf' : '+Inf'
}

function seriesPrefix (id: StatName): string {
  if (id.promSeries === null) id.promSeries = `${id.family}${formatLabels(id.labels)} `
  return id.promSeries
}

function histogramLines (h: HistogramStat): readonly string[] {
  if (h.promLines === null) {
    const family = h.id.family
    const lines = h.bounds.map((b) => `${family}_bucket${formatLabels(h.id.labels, `le="${b}"`)} `)
    lines.push(`${family}_bucket${formatLabels(h.id.labels, 'le="+Inf"')} `)
    lines.push(`${family}_sum${formatLabels(h.id.labels)} `, `${family}_count${formatLabels(h.id.labels)} `)
    h.promLines = lines
  }
  return h.promLines
}

function header (name: string, help: string, type: string): string {
  return `# HELP ${name} ${help.replace(/\\/g, '\\\\').replace(/\n/g, '\\n')}\n# TYPE ${name} ${type}`
}

function sample (value: number, labels: Readonly<Record<string, string>>, shared: Readonly<Record<string, string>>, metricName?: string): Sample {
  return metricName === undefined ? { value, labels, sharedLabels: shared } : { value, labels, sharedLabels: shared, metricName }
}

/** A counter or gauge: one value per series. */
interface ScalarStat { readonly id: StatName, readonly value: number }

/** A counter or gauge family's text: its HELP/TYPE head, then one line per series. */
function renderScalars (head: string, members: Iterable<ScalarStat>): string {
  let out = head
  for (const m of members) out += `\n${seriesPrefix(m.id)}${formatValue(m.value)}`
  return out
}

/** The same series as prom-client's `get()` returns them. */
function scalarSamples (members: Iterable<ScalarStat>): Sample[] {
  const values: Sample[] = []
  for (const m of members) values.push(sample(m.value, NO_LABELS, m.id.labels))
  return values
}

export class CounterFamily extends PromCounter<string> {
  readonly members = new Set<CounterStat>()
  private readonly head: string

  constructor (config: FamilyConfig) {
    super(config)
    this.head = header(config.name, config.help, 'counter')
  }

  render (): string {
    return renderScalars(this.head, this.members)
  }

  override async get (): ReturnType<PromCounter<string>['get']> {
    return { ...await super.get(), values: scalarSamples(this.members) }
  }
}

export class GaugeFamily extends PromGauge<string> {
  readonly members = new Set<GaugeLike>()
  private readonly head: string

  constructor (config: FamilyConfig) {
    super(config)
    this.head = header(config.name, config.help, 'gauge')
  }

  render (): string {
    return renderScalars(this.head, this.members)
  }

  override async get (): ReturnType<PromGauge<string>['get']> {
    return { ...await super.get(), values: scalarSamples(this.members) }
  }
}

/** `{le: "0.5"}` … `{le: "+Inf"}` for a bounds array, shared by every series using those bounds (`get()` path only). */
const leLabelCache = new WeakMap<readonly number[], ReadonlyArray<Readonly<Record<string, string>>>>()
function leLabels (bounds: readonly number[]): ReadonlyArray<Readonly<Record<string, string>>> {
  let labels = leLabelCache.get(bounds)
  if (labels === undefined) {
    labels = Object.freeze([...bounds.map((b) => Object.freeze({ le: String(b) })), Object.freeze({ le: '+Inf' })])
    leLabelCache.set(bounds, labels)
  }
  return labels
}

export class HistogramFamily extends PromHistogram<string> {
  readonly members = new Set<HistogramStat>()
  // prom-client sets `name` and `help` on the instance but its typings do not declare them.
  private readonly familyName: string
  private readonly familyHelp: string

  private readonly head: string

  constructor (config: FamilyConfig) {
    super(config)
    this.familyName = config.name
    this.familyHelp = config.help
    this.head = header(config.name, config.help, 'histogram')
  }

  render (): string {
    let out = this.head
    for (const h of this.members) {
      const lines = histogramLines(h)
      let cumulative = 0
      for (let i = 0; i < h.counts.length; i++) {
        cumulative += h.counts[i]
        out += `\n${lines[i]}${cumulative}`
      }
      out += `\n${lines[h.counts.length]}${formatValue(h.sum)}\n${lines[h.counts.length + 1]}${h.count}`
    }
    return out
  }

  // prom-client's registry calls `getForPromString` on histograms when it exists (its `get()`
  // is built on it too), so this is the one hook; it is not in prom-client's typings.
  async getForPromString (): Promise<{ name: string, help: string, type: string, values: Sample[], aggregator: string }> {
    const values: Sample[] = []
    const bucketName = `${this.familyName}_bucket`
    const sumName = `${this.familyName}_sum`
    const countName = `${this.familyName}_count`
    for (const h of this.members) {
      const le = leLabels(h.bounds)
      const shared = h.id.labels
      let cumulative = 0
      for (let i = 0; i < h.counts.length; i++) {
        cumulative += h.counts[i]
        values.push(sample(cumulative, le[i], shared, bucketName))
      }
      values.push(sample(h.sum, NO_LABELS, shared, sumName))
      values.push(sample(h.count, NO_LABELS, shared, countName))
    }
    return { name: this.familyName, help: this.familyHelp, type: 'histogram', values, aggregator: 'sum' }
  }
}

export type Family = CounterFamily | GaugeFamily | HistogramFamily

/** Registers a family in `registry`. Label names are not declared: Ferry never calls prom-client's `inc(labels)`. */
export function createFamily (registry: Registry, kind: 'counter' | 'gauge' | 'histogram', name: string, help: string): Family {
  const config: FamilyConfig = { name, help, registers: [registry] }
  switch (kind) {
    case 'counter': return new CounterFamily(config)
    case 'gauge': return new GaugeFamily(config)
    case 'histogram': return new HistogramFamily(config)
  }
}

/**
 * prom-client's registry with a faster path for Ferry's families (see the top of this file).
 * Output is the same text format 0.0.4 prom-client writes: families separated by a blank line.
 * Default labels (`setDefaultLabels`) and OpenMetrics apply only through prom-client's own path,
 * so with either set the whole registry is rendered by prom-client.
 */
export class FerryRegistry extends Registry {
  private defaultLabelsSet = false

  override setDefaultLabels (labels: object): void {
    this.defaultLabelsSet = Object.keys(labels).length > 0
    super.setDefaultLabels(labels)
  }

  override async metrics (): Promise<string> {
    if (this.defaultLabelsSet || this.contentType !== Registry.PROMETHEUS_CONTENT_TYPE) return await super.metrics()
    const parts: string[] = []
    for (const m of this.getMetricsAsArray()) {
      if (m instanceof CounterFamily || m instanceof GaugeFamily || m instanceof HistogramFamily) parts.push(m.render())
      else parts.push(await this.getSingleMetricAsString(m.name))
    }
    return `${parts.join('\n\n')}\n`
  }
}
