// One worker of a multi-process Ferry (see primary.ts): maps the primary's shared segment before
// any cluster is built, then runs an ordinary Ferry and answers the primary's IPC requests.

import cluster from 'node:cluster'
import type { Ferry } from '../ferry'
import type { Logger } from '../observability/logger'
import { isLogLevel } from '../observability/logger'
import { SharedSegment } from '../upstream/shared-memory'
import { installSharedState } from '../upstream/shared-state'
import type { PrimaryMessage, WorkerMessage } from './messages'

export interface WorkerIdentity {
  /** 0-based; worker 0 also serves the admin paths the primary forwards. */
  readonly index: number
  readonly workers: number
}

/** This process's place in a multi-process Ferry, or null when it is not one of its workers. */
export function workerIdentity (): WorkerIdentity | null {
  if (!cluster.isWorker) return null
  const index = Number(process.env.FERRY_WORKER_INDEX)
  const workers = Number(process.env.FERRY_WORKERS)
  if (!Number.isInteger(index) || !Number.isInteger(workers) || process.env.FERRY_SHM_PATH === undefined) return null
  return { index, workers }
}

/** Maps the shared segment and makes every cluster built from now on use it. Throws when it cannot. */
export function attachSharedState (id: WorkerIdentity, log: Logger): void {
  const segment = SharedSegment.attach(process.env.FERRY_SHM_PATH as string)
  installSharedState({ segment, worker: id.index, workers: id.workers, warn: m => log.warn(m) })
}

/** Tells the primary this worker is ready and serves its requests; `stop` drains this worker. */
export function serveWorker (id: WorkerIdentity, ferry: Ferry, stop: (why: string) => void): void {
  const reply = (m: WorkerMessage): void => { if (process.connected) process.send?.(m) }
  process.on('message', (m: PrimaryMessage) => {
    if (m === null || typeof m !== 'object') return
    switch (m.type) {
      case 'ferry:drain':
        stop('drain requested by the primary')
        return
      case 'ferry:stats': {
        // Gauges derived from shared counters move when other workers act; bring them up to date.
        for (const c of ferry.snapshot.clusters.values()) {
          c.pools.updateGauges()
          c.hostSet.healthSource?.sync()
        }
        if (m.format === 'prometheus') {
          ferry.stats.prometheus().then(body => reply({ type: 'ferry:reply', id: m.id, body }), () => reply({ type: 'ferry:reply', id: m.id, body: '' }))
          return
        }
        const re = m.filter === null ? undefined : new RegExp(m.filter)
        reply({ type: 'ferry:reply', id: m.id, body: { json: ferry.stats.json(re), counts: histogramCounts(ferry) } })
        return
      }
      case 'ferry:reset_counters':
        ferry.stats.resetCounters()
        reply({ type: 'ferry:reply', id: m.id, body: 'OK' })
        return
      case 'ferry:logging':
        if (m.level !== null && !isLogLevel(m.level)) {
          reply({ type: 'ferry:reply', id: m.id, body: `unknown level ${m.level}; use debug, info, warn or error\n` })
          return
        }
        if (m.level !== null) ferry.log.setLevel(m.level)
        reply({ type: 'ferry:reply', id: m.id, body: 'OK' })
    }
  })
  // The primary is gone (killed): nobody distributes connections any more; drain and leave.
  process.on('disconnect', () => stop('primary exited'))
  reply({ type: 'ferry:ready', index: id.index, adminPort: ferry.adminPort })
}

/**
 * Samples per histogram, so the primary can take Envoy-format quantiles from the worker that saw
 * most. StatsStore keeps them private; this reads them by shape and degrades to 0 if that changes.
 */
function histogramCounts (ferry: Ferry): Record<string, number> {
  const out: Record<string, number> = {}
  const store = ferry.stats as unknown as { histogramsSorted?: (re: RegExp | null) => Array<{ id: { name: string }, count: number }> }
  if (typeof store.histogramsSorted !== 'function') return out
  for (const h of store.histogramsSorted(null)) out[h.id.name] = h.count
  return out
}
