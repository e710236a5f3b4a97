// A runtime cluster (Envoy's Cluster): its hosts, load balancer, circuit breakers, outlier
// detector, connection pools and stats. Built from a ClusterSpec; kept across config reloads
// while the spec stays the same, so pools, ejections and counters survive a reload.

import type { ClusterSpec } from '../model/snapshot'
import { Host } from './host'
import { HostSet } from './host-set'
import { createLoadBalancer, type LoadBalancer } from './load-balancer'
import type { CircuitBreakers } from './circuit-breaker'
import { NULL_OUTLIER_DETECTOR, type OutlierDetector } from './outlier-detector'
import { circuitBreakersFor, outlierDetectorFor, sharedPoolFor, type SharedPoolHandle } from './shared-state'
import { ClusterPools } from './connection-pool'
import type { ClusterStats } from '../observability/stats'

export interface ClusterDeps {
  random: () => number
  /** Hosts from the cluster this one replaces, by key, so outlier state carries over. */
  previousHosts: ReadonlyMap<string, Host>
  /** Source address for upstream connections (inbound clusters connect from 127.0.0.6). */
  localAddress?: string | null
}

export class Cluster {
  readonly hosts: readonly Host[]
  readonly hostSet: HostSet
  readonly lb: LoadBalancer
  readonly breakers: CircuitBreakers
  readonly outlier: OutlierDetector
  readonly pools: ClusterPools
  private readonly sharedPool: SharedPoolHandle

  constructor (readonly spec: ClusterSpec, readonly stats: ClusterStats, deps: ClusterDeps) {
    this.hosts = spec.endpoints.map(ep => {
      const key = ep.address.includes(':') ? `[${ep.address}]:${ep.port}` : `${ep.address}:${ep.port}`
      return deps.previousHosts.get(key) ?? new Host(ep.address, ep.port, ep.labels, ep.weight, ep.locality)
    })
    this.hostSet = new HostSet(this.hosts, spec.outlier?.minHealthPercent ?? 0)
    this.lb = createLoadBalancer(spec.lb, this.hostSet, deps.random)
    const l = spec.limits
    // Per process, or shared by every worker with --concurrency > 1 (shared-state.ts).
    this.breakers = circuitBreakersFor(spec.name, {
      maxConnections: l.maxConnections,
      maxPendingRequests: l.maxPendingRequests,
      maxRequests: l.maxRequests,
      maxRetries: l.maxRetries
    })
    this.outlier = spec.outlier === null
      ? NULL_OUTLIER_DETECTOR
      : outlierDetectorFor(spec.name, spec.outlier, this.hostSet)
    this.pools = new ClusterPools(l, this.breakers, stats, deps.localAddress ?? null)
    this.sharedPool = sharedPoolFor(this.pools)
    stats.membership_total.set(this.hosts.length)
    this.hostSet.healthyGauge = stats.membership_healthy
    stats.membership_healthy.set(this.hostSet.healthyHosts().length)
  }

  get name (): string {
    return this.spec.name
  }

  /** Stops timers and closes idle connections; in-flight requests finish first (undici close). */
  close (): void {
    this.outlier.close()
    this.sharedPool.close()
    this.pools.close()
  }
}
