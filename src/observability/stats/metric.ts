// The three kinds of stat Envoy has, as plain objects the request path can bump with one
// property write. Nothing here knows about Prometheus or text output: renderers read `value`,
// `counts`, `sum` at scrape time, so the cost of exposition is paid by the scraper, not by requests.

export interface Counter { inc (n?: number): void, readonly value: number }
export interface Gauge { inc (n?: number): void, dec (n?: number): void, set (v: number): void, readonly value: number }
export interface Histogram { observe (v: number): void }

/**
 * Envoy's default histogram buckets (`Stats::HistogramSettingsImpl::defaultBuckets`), which are
 * also what Istio's standard metrics use since telemetry v2: Istio's stats filter records into
 * ordinary Envoy histograms and istiod sets no `histogram_bucket_settings` by default. So the same
 * bounds serve `istio_request_duration_milliseconds` and `istio_request_bytes` / `istio_response_bytes`
 * (the 1, 10, 100 … 1e7 byte buckets belonged to the Mixer-era Prometheus adapter).
 */
export const ENVOY_DEFAULT_BUCKETS: readonly number[] = Object.freeze([
  0.5, 1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000, 300000, 600000,
  1800000, 3600000
])

/**
 * A stat's identity in every form Ferry prints it. Built once when the stat is created (at config
 * compile time or the first time a response code is seen), never per request.
 */
export class StatName {
  constructor (
    /** Envoy's full name, as in `/stats`: `cluster.outbound|9080||reviews.default.svc.cluster.local.upstream_rq_total`. */
    readonly name: string,
    /** Prometheus family: `envoy_` + the tag-extracted name with `[^a-zA-Z0-9_]` turned into `_`. */
    readonly family: string,
    /** Extracted tags as Prometheus labels, in Envoy's order; the same object is reused by every scrape. */
    readonly labels: Readonly<Record<string, string>>
  ) {}

  /** `family{a="b"}`, rendered on first scrape and kept: later scrapes only append the value. */
  promSeries: string | null = null
}

export class CounterStat implements Counter {
  value = 0
  constructor (readonly id: StatName) {}
  inc (n = 1): void { this.value += n }
}

export class GaugeStat implements Gauge {
  value = 0
  constructor (readonly id: StatName) {}
  inc (n = 1): void { this.value += n }
  dec (n = 1): void { this.value -= n }
  set (v: number): void { this.value = v }
}

/**
 * A gauge whose value is computed when read (Envoy's `server.uptime`, `cluster_manager.active_clusters`).
 * Writes are ignored so it can stand where a `Gauge` is expected without a special case.
 */
export class ComputedGauge implements Gauge {
  constructor (readonly id: StatName, private readonly read: () => number) {}
  get value (): number { return this.read() }
  inc (): void {}
  dec (): void {}
  set (): void {}
}

export type GaugeLike = GaugeStat | ComputedGauge

/** Quantiles Envoy prints in `/stats` (`Stats::HistogramSettingsImpl` supported quantiles, in percent). */
export const SUPPORTED_QUANTILES: readonly number[] = Object.freeze([0, 25, 50, 75, 90, 95, 99, 99.5, 99.9, 100])

/**
 * Fixed-bucket histogram. Envoy keeps a log-linear circllhist per histogram and derives both its
 * Prometheus buckets and its `/stats` quantiles from it; Ferry keeps only the Prometheus buckets
 * plus exact min/max, and interpolates quantiles inside a bucket. That is exact for Prometheus
 * (which is what dashboards read) and approximate for `/stats` quantiles (which humans read).
 */
export class HistogramStat implements Histogram {
  /** Per-bucket (not cumulative) counts; the last slot is the `+Inf` bucket. */
  readonly counts: Float64Array
  count = 0
  sum = 0
  min = Infinity
  max = -Infinity
  /** `family_bucket{le="…",…}` for each bucket, then `family_sum{…}` and `family_count{…}`; built on first scrape. */
  promLines: readonly string[] | null = null

  constructor (readonly id: StatName, readonly bounds: readonly number[] = ENVOY_DEFAULT_BUCKETS) {
    this.counts = new Float64Array(bounds.length + 1)
  }

  observe (v: number): void {
    // Envoy histograms hold unsigned integers; a negative or NaN sample (clock step, caller bug)
    // would poison `sum` forever, so it is recorded as 0 instead.
    if (!(v > 0)) v = 0
    const bounds = this.bounds
    const n = bounds.length
    let i = 0
    // Linear scan: 19 bounds, and most samples (ms, small bodies) land in the first few.
    while (i < n && v > bounds[i]) i++
    this.counts[i]++
    this.count++
    this.sum += v
    if (v < this.min) this.min = v
    if (v > this.max) this.max = v
  }

  /**
   * Value at quantile `q` (0..1), or NaN without samples. P0 and P100 are the exact min and max;
   * in between, linear interpolation inside the bucket, clamped to [min, max].
   */
  quantile (q: number): number {
    if (this.count === 0) return NaN
    if (q <= 0) return this.min
    if (q >= 1) return this.max
    const rank = q * this.count
    let cumulative = 0
    for (let i = 0; i < this.counts.length; i++) {
      const inBucket = this.counts[i]
      if (inBucket === 0) continue
      if (cumulative + inBucket >= rank) {
        const lower = Math.max(i === 0 ? 0 : this.bounds[i - 1], this.min)
        const upper = Math.min(i < this.bounds.length ? this.bounds[i] : this.max, this.max)
        return lower + (upper - lower) * ((rank - cumulative) / inBucket)
      }
      cumulative += inBucket
    }
    return this.max
  }
}

/** Envoy replaces `:` in stat names with `_` (addresses and cluster names may contain it). */
export function sanitizeStatName (part: string): string {
  return part.includes(':') ? part.replace(/:/g, '_') : part
}

/** Envoy's `PrometheusStatsFormatter::sanitizeName`: anything outside `[a-zA-Z0-9_]` becomes `_`. */
export function sanitizePrometheusName (name: string): string {
  return name.replace(/[^a-zA-Z0-9_]/g, '_')
}
