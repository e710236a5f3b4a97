// Prometheus exposition through prom-client. prom-client owns the registry (so other parts of
// Ferry, or prom-client's default process metrics, can register into the same one and come out of
// the same `/stats/prometheus`) and the text format (HELP/TYPE lines, label escaping, number
// formatting). It does not own the values: each family below is a prom-client metric whose
// `get()` reads Ferry's plain counters at scrape time. prom-client's own `inc(labels)` hashes the
// label object on every call, which is what the hot path must not do (see bench/micro/stats.bench.js).
//
// Every sample is emitted with its labels as prom-client `sharedLabels`: prom-client caches the
// rendered `a="b",c="d"` string per shared-labels object in a WeakMap, and each stat keeps one
// labels object for its lifetime, so repeated scrapes do not re-escape label values.

import { Counter as PromCounter, Gauge as PromGauge, Histogram as PromHistogram, type Registry } from 'prom-client'
import type { CounterStat, GaugeLike, HistogramStat } from './metric'

/** The sample shape prom-client's registry renders (its typings omit `sharedLabels`). */
interface Sample {
  value: number
  labels: Readonly<Record<string, string>>
  sharedLabels: Readonly<Record<string, string>>
  metricName?: string
}

interface FamilyConfig { name: string, help: string, registers: Registry[] }

const NO_LABELS: Readonly<Record<string, string>> = Object.freeze({})

function sample (value: number, labels: Readonly<Record<string, string>>, shared: Readonly<Record<string, string>>, metricName?: string): Sample {
  return metricName === undefined ? { value, labels, sharedLabels: shared } : { value, labels, sharedLabels: shared, metricName }
}

export class CounterFamily extends PromCounter<string> {
  readonly members = new Set<CounterStat>()

  override async get (): ReturnType<PromCounter<string>['get']> {
    const base = await super.get()
    const values: Sample[] = []
    for (const m of this.members) values.push(sample(m.value, NO_LABELS, m.id.labels))
    return { ...base, values }
  }
}

export class GaugeFamily extends PromGauge<string> {
  readonly members = new Set<GaugeLike>()

  override async get (): ReturnType<PromGauge<string>['get']> {
    const base = await super.get()
    const values: Sample[] = []
    for (const m of this.members) values.push(sample(m.value, NO_LABELS, m.id.labels))
    return { ...base, values }
  }
}

/** `{le: "0.5"}` … `{le: "+Inf"}` for a bounds array, shared by every series using those bounds. */
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

  constructor (config: FamilyConfig) {
    super(config)
    this.familyName = config.name
    this.familyHelp = config.help
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
