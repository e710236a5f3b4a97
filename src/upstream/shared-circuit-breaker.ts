// A circuit-breaker resource whose count lives in shared memory, so the limit holds across every
// worker process (Envoy: one ResourceManagerImpl per cluster, shared by all worker threads).
//
// The total is one Int32 updated with Atomics; tryInc() is a compare-exchange loop, so two
// workers can never both take the last slot. Beside the total, each worker keeps its own
// contribution (written only by itself, no atomics needed) for the primary to subtract if the
// worker dies holding resources.
//
// Only finite limits are shared: an unlimited resource never refuses anything, so its count only
// feeds this worker's gauges and an in-process counter is exact for that. The one exception is the
// pending count of a cluster with a finite connection limit: other workers read it to know that
// someone is waiting for a connection slot (SharedPoolCoordinator).

import type { CircuitBreakerResource, CircuitBreakerResourceIndex } from './circuit-breaker'
import { C_PER_WORKER, C_TOTALS, type SharedSegment } from './shared-memory'

export class SharedResourceLimit implements CircuitBreakerResource {
  readonly max: number
  readonly shared: true = true
  private readonly i32: Int32Array
  private readonly total: number
  private readonly mine: number

  constructor (segment: SharedSegment, clusterBase: number, worker: number, resource: CircuitBreakerResourceIndex, max: number) {
    if (!(max === Infinity || (Number.isInteger(max) && max >= 0 && max <= 0x7fffffff))) {
      throw new RangeError(`shared circuit breaker limit must be an integer within [0, 2^31-1] or Infinity, got ${max}`)
    }
    if (!(worker >= 0 && worker < segment.maxWorkers)) throw new RangeError(`worker ${worker} outside the segment's ${segment.maxWorkers}`)
    this.max = max
    this.i32 = segment.i32
    this.total = clusterBase + C_TOTALS + resource
    this.mine = clusterBase + C_PER_WORKER + 4 * worker + resource
  }

  get count (): number {
    return Atomics.load(this.i32, this.total)
  }

  canCreate (): boolean {
    return Atomics.load(this.i32, this.total) < this.max
  }

  tryInc (): boolean {
    const i32 = this.i32
    const i = this.total
    let c = Atomics.load(i32, i)
    while (c < this.max) {
      const seen = Atomics.compareExchange(i32, i, c, c + 1)
      if (seen === c) {
        i32[this.mine]++
        return true
      }
      c = seen
    }
    return false
  }

  inc (): void {
    Atomics.add(this.i32, this.total, 1)
    this.i32[this.mine]++
  }

  dec (): void {
    // The per-worker column is the one that can tell an unbalanced dec in this worker from a
    // slot another worker holds.
    if (this.i32[this.mine] <= 0) throw new Error('circuit breaker: dec() without a matching inc()')
    this.i32[this.mine]--
    Atomics.sub(this.i32, this.total, 1)
  }

  get remaining (): number {
    const c = this.count
    return c >= this.max ? 0 : this.max - c
  }

  get open (): 0 | 1 {
    return this.count >= this.max ? 1 : 0
  }
}
