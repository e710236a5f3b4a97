// Which state a cluster shares with the other workers, decided once per process.
//
// In a single process (the default, and --concurrency 1) nothing is installed and clusters get
// plain in-process breakers and detectors: no addon, no shared memory, no cost. A worker of a
// multi-process Ferry installs the segment before building any cluster; from then on every
// cluster with a finite limit keeps that limit's count in the segment, and every cluster with
// outlier detection keeps its hosts' ejection state there.

import { CircuitBreakers, ResourceLimit, type CircuitBreakerLimits, type ResourceLimitFactory } from './circuit-breaker'
import { OutlierDetector, type OutlierDetectionConfig } from './outlier-detector'
import type { HostSet } from './host-set'
import type { ClusterPools } from './connection-pool'
import { KIND_CLUSTER, type SharedSegment } from './shared-memory'
import { SharedResourceLimit } from './shared-circuit-breaker'
import { SharedOutlierDetector } from './shared-outlier-detector'

export interface WorkerSharedState {
  readonly segment: SharedSegment
  /** This worker's index, 0-based. */
  readonly worker: number
  /** How many workers share the segment. */
  readonly workers: number
  readonly warn: (message: string) => void
}

let installed: WorkerSharedState | null = null

export function installSharedState (state: WorkerSharedState | null): void {
  installed = state
}

export function sharedState (): WorkerSharedState | null {
  return installed
}

const warnedFull = new Set<string>()

function clusterEntry (s: WorkerSharedState, name: string): number {
  const b = s.segment.entry(KIND_CLUSTER, name)
  if (b < 0 && !warnedFull.has(name)) {
    warnedFull.add(name)
    s.warn(`shared memory full: cluster ${name} divides its circuit-breaker limits by ${s.workers} workers and keeps outlier state per worker`)
  }
  return b
}

/** The cluster's breakers: shared across workers for finite limits when running as a worker. */
export function circuitBreakersFor (name: string, limits: CircuitBreakerLimits): CircuitBreakers {
  const s = installed
  if (s === null) return new CircuitBreakers(limits)
  const b = clusterEntry(s, name)
  const make: ResourceLimitFactory = (max, resource) => {
    if (max === Infinity && !(resource === 1 && limits.maxConnections !== Infinity)) return new ResourceLimit(max)
    // No room in the table: a per-worker share of the limit can under-admit but never exceeds it.
    if (b < 0) return new ResourceLimit(Math.floor(max / s.workers))
    return new SharedResourceLimit(s.segment, b, s.worker, resource, max)
  }
  return new CircuitBreakers(limits, make)
}

/** The cluster's outlier detector: ejections visible to every worker when running as a worker. */
export function outlierDetectorFor (name: string, config: OutlierDetectionConfig, hostSet: HostSet): OutlierDetector {
  const s = installed
  if (s === null) return new OutlierDetector(config, hostSet)
  const b = clusterEntry(s, name)
  if (b < 0) return new OutlierDetector(config, hostSet)
  return new SharedOutlierDetector(config, hostSet, s.segment, b, name, s.worker)
}

/** What a cluster holds to stop the coordination below; a no-op in a single process. */
export interface SharedPoolHandle {
  close (): void
}

const NULL_SHARED_POOL: SharedPoolHandle = Object.freeze({ close (): void {} })

// How often each worker looks at the clusters whose connection limit it shares. Only runs while
// such a cluster exists; a tick is a few Atomics loads per cluster.
const COORDINATOR_TICK_MS = 2

/**
 * Keeps a shared connection limit live across workers. In one process a freed slot is handed to
 * the next pending request at once (ClusterPools.servePending); across processes nobody tells
 * worker A that worker B closed a connection, and B's idle keep-alive socket would hold the
 * slot while A's requests wait (Envoy avoids the wait by letting each worker's pool open one
 * connection over the limit; Ferry keeps the limit exact instead). So every tick, per cluster:
 *   - requests pending here: try to open connections for them (a slot may have freed elsewhere);
 *   - requests pending anywhere and a connection idle here: close one idle connection, so its
 *     slot goes to whoever waits.
 */
class SharedPoolCoordinator {
  private readonly clusters = new Set<ClusterPools>()
  private timer: NodeJS.Timeout | null = null

  add (pools: ClusterPools): SharedPoolHandle {
    this.clusters.add(pools)
    if (this.timer === null) {
      this.timer = setInterval(() => { this.tick() }, COORDINATOR_TICK_MS)
      this.timer.unref()
    }
    return { close: () => { this.remove(pools) } }
  }

  private remove (pools: ClusterPools): void {
    this.clusters.delete(pools)
    if (this.clusters.size === 0 && this.timer !== null) {
      clearInterval(this.timer)
      this.timer = null
    }
  }

  tick (): void {
    for (const pools of this.clusters) {
      const local = pools.pendingCount
      if (local > 0) pools.servePending()
      if (pools.breakers.pendingRequests.count > 0) pools.releaseIdle()
    }
  }
}

const coordinator = new SharedPoolCoordinator()

/** Registers a cluster's pools for cross-worker coordination when its connection limit is shared. */
export function sharedPoolFor (pools: ClusterPools): SharedPoolHandle {
  return pools.breakers.connections.shared ? coordinator.add(pools) : NULL_SHARED_POOL
}
