// Where every live stat object is indexed: by Envoy name for /stats and /stats?format=json, and by
// Prometheus family for /stats/prometheus. Only creation and removal touch these maps; the request
// path holds direct references to the stat objects and never looks anything up here.

import type { Registry } from 'prom-client'
import { ComputedGauge, CounterStat, GaugeStat, HistogramStat, StatName, type GaugeLike, sanitizePrometheusName } from './metric'
import { CounterFamily, GaugeFamily, HistogramFamily, createFamily, type Family } from './prometheus'
import type { StatTable } from './table'

export type AnyStat = CounterStat | GaugeLike | HistogramStat

/**
 * A point in Envoy's stat tree with the tags extracted so far. `cluster.<name>.` has the tag
 * `cluster_name`; its stats are named `cluster.<name>.<stat>` in /stats and
 * `envoy_cluster_<stat>{cluster_name="<name>"}` in Prometheus (the name with the tag cut out).
 */
export class Scope {
  constructor (
    /** Prefix of the full Envoy name, ending in `.` (or empty). */
    readonly namePrefix: string,
    /** Prefix of the tag-extracted name, ending in `.` (or empty). */
    readonly extractedPrefix: string,
    /** Shared by every stat of the scope, so prom-client's per-object label cache hits across families. */
    readonly labels: Readonly<Record<string, string>>,
    /** `envoy_` for Envoy's stats; `` for custom namespaces such as Istio's `istio_*`. */
    readonly familyPrefix: string = 'envoy_'
  ) {}

  child (part: string): Scope {
    return new Scope(`${this.namePrefix}${part}.`, `${this.extractedPrefix}${part}.`, this.labels, this.familyPrefix)
  }

  /** Identity of `<scope>.<stat>`; `extraLabels` (a response code) go before the scope's tags, as Envoy orders them. */
  statName (stat: string, extracted: string = stat, extraLabels?: Readonly<Record<string, string>>): StatName {
    const labels = extraLabels === undefined ? this.labels : Object.freeze({ ...extraLabels, ...this.labels })
    return new StatName(
      `${this.namePrefix}${stat}`,
      `${this.familyPrefix}${sanitizePrometheusName(`${this.extractedPrefix}${extracted}`)}`,
      labels
    )
  }
}

export class StatRegistry {
  readonly counters = new Map<string, CounterStat>()
  readonly gauges = new Map<string, GaugeLike>()
  readonly histograms = new Map<string, HistogramStat>()
  private readonly families = new Map<string, Family>()

  constructor (readonly prom: Registry) {}

  counter (id: StatName, help: string): CounterStat {
    const existing = this.counters.get(id.name)
    if (existing !== undefined) return existing
    const stat = new CounterStat(id)
    this.counters.set(id.name, stat)
    this.family(id.family, help, CounterFamily, 'counter').members.add(stat)
    return stat
  }

  gauge (id: StatName, help: string, read?: () => number): GaugeLike {
    const existing = this.gauges.get(id.name)
    if (existing !== undefined) return existing
    const stat = read === undefined ? new GaugeStat(id) : new ComputedGauge(id, read)
    this.gauges.set(id.name, stat)
    this.family(id.family, help, GaugeFamily, 'gauge').members.add(stat)
    return stat
  }

  histogram (id: StatName, help: string, bounds?: readonly number[]): HistogramStat {
    const existing = this.histograms.get(id.name)
    if (existing !== undefined) return existing
    const stat = new HistogramStat(id, bounds)
    this.histograms.set(id.name, stat)
    this.family(id.family, help, HistogramFamily, 'histogram').members.add(stat)
    return stat
  }

  remove (stat: AnyStat): void {
    const name = stat.id.name
    let removed = false
    if (stat instanceof CounterStat) removed = this.counters.get(name) === stat && this.counters.delete(name)
    else if (stat instanceof HistogramStat) removed = this.histograms.get(name) === stat && this.histograms.delete(name)
    else removed = this.gauges.get(name) === stat && this.gauges.delete(name)
    if (!removed) return
    const family = this.families.get(stat.id.family)
    if (family === undefined) return
    // Each family holds one kind, so the member set accepts this stat; the union type cannot say so.
    ;(family.members as Set<AnyStat>).delete(stat)
    if (family.members.size === 0) {
      this.families.delete(stat.id.family)
      this.prom.removeSingleMetric(stat.id.family)
    }
  }

  /**
   * Creates every stat of `table` under `scope` as own properties of `target`, in table order, so
   * that all objects built from one table share a hidden class (monomorphic property loads on the
   * request path). Returns the created stats for later removal.
   */
  attach (target: object, scope: Scope, table: StatTable, owned: AnyStat[]): void {
    const slots = target as Record<string, AnyStat>
    for (const [stat, help] of Object.entries(table.counters)) owned.push(slots[stat] = this.counter(scope.statName(stat), help))
    for (const [stat, help] of Object.entries(table.gauges)) owned.push(slots[stat] = this.gauge(scope.statName(stat), help))
    for (const [stat, help] of Object.entries(table.histograms)) owned.push(slots[stat] = this.histogram(scope.statName(stat), help))
  }

  private family<F extends Family> (name: string, help: string, ctor: new (...args: never[]) => F, kind: 'counter' | 'gauge' | 'histogram'): F {
    const existing = this.families.get(name)
    if (existing !== undefined) {
      if (existing instanceof ctor) return existing
      throw new Error(`stats: Prometheus family ${name} is already a ${existing instanceof CounterFamily ? 'counter' : existing instanceof GaugeFamily ? 'gauge' : 'histogram'}, not a ${kind}`)
    }
    const created = createFamily(this.prom, kind, name, help)
    if (!(created instanceof ctor)) throw new Error(`stats: internal error creating ${kind} family ${name}`)
    this.families.set(name, created)
    return created
  }
}
