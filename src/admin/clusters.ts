// /clusters in Envoy's text form (one `cluster::host::field::value` line per field) and JSON.

import type { Snapshot } from '../model/snapshot'
import type { Cluster } from '../upstream/cluster'
import type { Host } from '../upstream/host'

const UNLIMITED = 4294967295
const lim = (n: number): number => (Number.isFinite(n) ? n : UNLIMITED)

function healthFlags (h: Host): string {
  return h.ejected ? '/failed_outlier_check' : 'healthy'
}

function sortedClusters (s: Snapshot): Cluster[] {
  return [...s.clusters.values()].sort((a, b) => a.name.localeCompare(b.name))
}

export function clustersText (s: Snapshot): string {
  const lines: string[] = []
  for (const c of sortedClusters(s)) {
    const n = c.name
    const l = c.spec.limits
    lines.push(`${n}::observability_name::${n}`)
    lines.push(`${n}::default_priority::max_connections::${lim(l.maxConnections)}`)
    lines.push(`${n}::default_priority::max_pending_requests::${lim(l.maxPendingRequests)}`)
    lines.push(`${n}::default_priority::max_requests::${lim(l.maxRequests)}`)
    lines.push(`${n}::default_priority::max_retries::${lim(l.maxRetries)}`)
    lines.push(`${n}::added_via_api::true`)
    for (const h of c.hosts) {
      const p = `${n}::${h.key}`
      const pool = c.pools.forHost(h)
      lines.push(`${p}::cx_active::${pool.all.size}`)
      lines.push(`${p}::rq_active::${h.activeRequests}`)
      lines.push(`${p}::health_flags::${healthFlags(h)}`)
      lines.push(`${p}::weight::${h.weight}`)
      const [region = '', zone = '', subzone = ''] = h.locality.split('/')
      lines.push(`${p}::region::${region}`)
      lines.push(`${p}::zone::${zone}`)
      lines.push(`${p}::sub_zone::${subzone}`)
      lines.push(`${p}::canary::false`)
      lines.push(`${p}::priority::0`)
      lines.push(`${p}::success_rate::-1`)
      lines.push(`${p}::local_origin_success_rate::-1`)
    }
  }
  return lines.join('\n') + (lines.length > 0 ? '\n' : '')
}

export function clustersJson (s: Snapshot): unknown {
  return {
    cluster_statuses: sortedClusters(s).map(c => ({
      name: c.name,
      added_via_api: true,
      host_statuses: c.hosts.map(h => ({
        address: { socket_address: { address: h.address, port_value: h.port } },
        stats: [
          { name: 'cx_active', type: 'GAUGE', value: String(c.pools.forHost(h).all.size) },
          { name: 'rq_active', type: 'GAUGE', value: String(h.activeRequests) }
        ],
        health_status: h.ejected ? { failed_outlier_check: true, eds_health_status: 'HEALTHY' } : { eds_health_status: 'HEALTHY' },
        weight: h.weight,
        locality: { region: h.locality.split('/')[0] ?? '' }
      })),
      circuit_breakers: {
        thresholds: [{
          max_connections: lim(c.spec.limits.maxConnections),
          max_pending_requests: lim(c.spec.limits.maxPendingRequests),
          max_requests: lim(c.spec.limits.maxRequests),
          max_retries: lim(c.spec.limits.maxRetries)
        }]
      }
    }))
  }
}
