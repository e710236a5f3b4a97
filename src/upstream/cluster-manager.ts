// Owns the runtime clusters across snapshots (Envoy's ClusterManager). On each new snapshot a
// cluster whose spec is unchanged is reused as is; a changed one is rebuilt (keeping its Host
// objects so outlier state survives); a removed one is closed.

import type { ClusterSpec } from '../model/snapshot'
import type { StatsStore } from '../observability/stats'
import { Cluster } from './cluster'
import type { Host } from './host'

export class ClusterManager {
  private clusters = new Map<string, { cluster: Cluster, key: string }>()

  constructor (private readonly stats: StatsStore, private readonly random: () => number = Math.random) {}

  update (specs: ReadonlyMap<string, ClusterSpec>): Map<string, Cluster> {
    const next = new Map<string, { cluster: Cluster, key: string }>()
    for (const [name, spec] of specs) {
      const key = JSON.stringify(spec, (_k, v: unknown) => (v === Number.POSITIVE_INFINITY ? 'inf' : v))
      const prev = this.clusters.get(name)
      if (prev !== undefined && prev.key === key) {
        next.set(name, prev)
        continue
      }
      const previousHosts = new Map<string, Host>()
      if (prev !== undefined) {
        for (const h of prev.cluster.hosts) previousHosts.set(h.key, h)
        prev.cluster.close()
      }
      const stats = this.stats.cluster(name)
      const cluster = new Cluster(spec, stats, { random: this.random, previousHosts })
      cluster.outlier.bindStats?.(stats.outlier_detection)
      next.set(name, { cluster, key })
    }
    for (const [name, prev] of this.clusters) {
      if (!next.has(name)) {
        prev.cluster.close()
        this.stats.removeCluster(name)
      }
    }
    this.clusters = next
    const out = new Map<string, Cluster>()
    for (const [name, c] of next) out.set(name, c.cluster)
    return out
  }

  private readonly dynamicClusters = new Map<string, Cluster>()

  /**
   * A cluster that no snapshot defines (PassthroughCluster, `inbound|<port>||`): made on first
   * use and kept for the life of the process.
   */
  dynamic (spec: ClusterSpec, localAddress: string | null = null): Cluster {
    let c = this.dynamicClusters.get(spec.name)
    if (c === undefined) {
      c = new Cluster(spec, this.stats.cluster(spec.name), { random: this.random, previousHosts: new Map(), localAddress })
      this.dynamicClusters.set(spec.name, c)
    }
    return c
  }

  get (name: string): Cluster | undefined {
    return this.clusters.get(name)?.cluster
  }

  close (): void {
    for (const c of this.clusters.values()) c.cluster.close()
    this.clusters.clear()
    for (const c of this.dynamicClusters.values()) c.close()
    this.dynamicClusters.clear()
  }
}
