// Cluster-wide stats from N workers: each worker renders its own, the primary adds them up.
//
// Envoy has one stats store per process, fed by every worker thread. Ferry's workers each have
// theirs; at scrape time the primary asks every worker over IPC and merges:
//   - counters, and gauges that count something per worker (`*_active`, memory, connections),
//     are summed; histogram buckets, `_sum` and `_count` too, so Prometheus histograms are exact;
//   - stats every worker computes identically from shared state or from the same config
//     (circuit breakers and membership, ejections_active, cluster_manager / listener_manager,
//     server.live/state/uptime/version) are replicated, not additive: the largest value is taken
//     (identical in steady state; during a drain `state` shows the most drained worker);
//   - `server.concurrency` is the number of workers.
// Envoy-format (`/stats`, `?format=json`) histograms are quantiles, which cannot be added: the
// worker with the most recorded values supplies them (documented in docs/concurrency.md).

import type { StatsJson } from '../observability/stats'

/** Envoy stat names whose value is the same in every worker rather than a per-worker share. */
const REPLICATED_ENVOY = /^(cluster_manager\.|listener_manager\.|server\.(live|state|uptime|concurrency|version|hot_restart_epoch)$)|\.circuit_breakers\.|\.(membership_[a-z]+|max_host_weight|update_(attempt|success|failure|empty))$|\.outlier_detection\.ejections_active$/

/** The same rule for Prometheus sample names (`envoy_cluster_membership_total{cluster_name=...}`). */
const REPLICATED_PROMETHEUS = /^envoy_(cluster_manager_|listener_manager_|cluster_circuit_breakers_|cluster_membership_|cluster_max_host_weight|cluster_update_(attempt|success|failure|empty)|cluster_outlier_detection_ejections_active|server_(live|state|uptime|concurrency|version|hot_restart_epoch)(\{|$))/

export function isReplicatedEnvoyStat (name: string): boolean {
  return REPLICATED_ENVOY.test(name)
}

/** Merges Prometheus text exposition (0.0.4) from each worker into one, keeping the first worker's order. */
export function mergePrometheus (texts: readonly string[], workers: number): string {
  const order: string[] = []
  const comments = new Set<string>()
  const values = new Map<string, number>()
  for (const text of texts) {
    for (const line of text.split('\n')) {
      if (line === '') continue
      if (line.startsWith('#')) {
        if (!comments.has(line)) {
          comments.add(line)
          order.push(line)
        }
        continue
      }
      const sp = line.lastIndexOf(' ')
      if (sp <= 0) continue
      const key = line.slice(0, sp)
      const v = Number(line.slice(sp + 1))
      const prev = values.get(key)
      if (prev === undefined) {
        order.push(key)
        values.set(key, v)
      } else if (REPLICATED_PROMETHEUS.test(key)) {
        values.set(key, Math.max(prev, v))
      } else {
        values.set(key, prev + v)
      }
    }
  }
  const out: string[] = []
  for (const k of order) {
    if (k.startsWith('#')) {
      out.push(k)
      continue
    }
    const v = /^envoy_server_concurrency(\{|$)/.test(k) ? workers : values.get(k) as number
    out.push(`${k} ${formatNumber(v)}`)
  }
  return out.length === 0 ? '' : `${out.join('\n')}\n`
}

function formatNumber (v: number): string {
  if (Number.isNaN(v)) return 'NaN'
  if (v === Infinity) return '+Inf'
  if (v === -Infinity) return '-Inf'
  return String(v)
}

type Scalar = { name: string, value: number }
type Histograms = Extract<StatsJson['stats'][number], { histograms: unknown }>['histograms']

/** Merges `/stats?format=json` bodies; `counts` is each worker's histogram sample count by name. */
export function mergeEnvoyJson (bodies: ReadonlyArray<{ json: StatsJson, counts: Record<string, number> }>, workers: number): StatsJson {
  const scalars = new Map<string, number>()
  const order: string[] = []
  const best = new Map<string, { count: number, values: Histograms['computed_quantiles'][number] }>()
  let quantiles: number[] | null = null
  for (const { json, counts } of bodies) {
    for (const s of json.stats) {
      if ('histograms' in s) {
        quantiles ??= s.histograms.supported_quantiles
        for (const h of s.histograms.computed_quantiles) {
          const n = counts[h.name] ?? 0
          const cur = best.get(h.name)
          if (cur === undefined || n > cur.count) best.set(h.name, { count: n, values: h })
        }
        continue
      }
      const { name, value } = s as Scalar
      const prev = scalars.get(name)
      if (prev === undefined) {
        order.push(name)
        scalars.set(name, value)
      } else {
        scalars.set(name, isReplicatedEnvoyStat(name) ? Math.max(prev, value) : prev + value)
      }
    }
  }
  if (scalars.has('server.concurrency')) scalars.set('server.concurrency', workers)
  const stats: StatsJson['stats'] = order.sort().map(name => ({ name, value: scalars.get(name) as number }))
  if (best.size > 0) {
    stats.push({
      histograms: {
        supported_quantiles: quantiles ?? [],
        computed_quantiles: [...best.keys()].sort().map(k => (best.get(k) as { values: Histograms['computed_quantiles'][number] }).values)
      }
    })
  }
  return { stats }
}

/** Envoy `/stats` text from merged JSON (the same lines StatsStore.envoyText prints). */
export function envoyTextFromJson (json: StatsJson): string {
  const lines: string[] = []
  for (const s of json.stats) {
    if ('histograms' in s) {
      const qs = s.histograms.supported_quantiles
      for (const h of s.histograms.computed_quantiles) {
        if (h.values.every(v => v.cumulative === null)) {
          lines.push(`${h.name}: No recorded values`)
          continue
        }
        lines.push(`${h.name}: ${h.values.map((v, i) => `P${qs[i]}(nan,${v.cumulative === null ? 'nan' : String(v.cumulative)})`).join(' ')}`)
      }
      continue
    }
    lines.push(`${(s as Scalar).name}: ${(s as Scalar).value}`)
  }
  return lines.length === 0 ? '' : `${lines.join('\n')}\n`
}
