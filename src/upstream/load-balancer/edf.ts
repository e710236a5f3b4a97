// Earliest-deadline-first scheduler for weighted picks (Envoy `EdfScheduler`): each host is due
// again 1/weight after it was last picked, so over time it is picked in proportion to its
// weight, smoothly interleaved rather than in bursts. O(log n) per pick, no allocation: the
// heap holds indices into typed arrays that are created once per rebuild.

import type { Host } from '../host'
import type { Random } from './types'

export class EdfScheduler {
  private readonly hosts: readonly Host[]
  private readonly heap: Int32Array
  private readonly deadline: Float64Array
  /** Insertion sequence, so equal deadlines are served first-in first-out as in Envoy. */
  private readonly seq: Float64Array
  private nextSeq: number

  /** `weights[i]` is the initial weight of `hosts[i]`; must be > 0. */
  constructor (hosts: readonly Host[], weights: ArrayLike<number>, random: Random) {
    const n = hosts.length
    this.hosts = hosts
    this.heap = new Int32Array(n)
    this.deadline = new Float64Array(n)
    this.seq = new Float64Array(n)
    this.nextSeq = n
    // Envoy starts each worker's scheduler after a random number of picks so that all proxies
    // do not hit the same host first after a config push. A random phase in [0, 1/weight) per
    // host has the same effect in one pass and keeps long-run proportions exact.
    for (let i = 0; i < n; i++) {
      this.heap[i] = i
      this.deadline[i] = random() / weights[i]
      this.seq[i] = i
    }
    for (let i = (n >> 1) - 1; i >= 0; i--) this.siftDown(i)
  }

  /** The host due next. */
  peek (): Host {
    return this.hosts[this.heap[0]]
  }

  /** Consume the host returned by `peek()` and schedule it again with `weight` (> 0). */
  advance (weight: number): void {
    const top = this.heap[0]
    this.deadline[top] = this.deadline[top] + 1 / weight
    this.seq[top] = this.nextSeq++
    this.siftDown(0)
  }

  private less (a: number, b: number): boolean {
    const da = this.deadline[a]
    const db = this.deadline[b]
    return da < db || (da === db && this.seq[a] < this.seq[b])
  }

  private siftDown (start: number): void {
    const heap = this.heap
    const n = heap.length
    let i = start
    for (;;) {
      const l = 2 * i + 1
      if (l >= n) return
      const r = l + 1
      let m = l
      if (r < n && this.less(heap[r], heap[l])) m = r
      if (!this.less(heap[m], heap[i])) return
      const t = heap[i]
      heap[i] = heap[m]
      heap[m] = t
      i = m
    }
  }
}

/** True when every host has the same weight: Envoy then uses the cheaper unweighted algorithm. */
export function weightsAreEqual (hosts: readonly Host[]): boolean {
  for (let i = 1; i < hosts.length; i++) if (hosts[i].weight !== hosts[0].weight) return false
  return true
}

/**
 * The EDF schedule a weighted balancer rebuilds on each host-set change, with `weightOf` giving
 * each host's starting weight; null when weights do not matter (fewer than two hosts, or all
 * weights equal), where Envoy uses the balancer's unweighted algorithm instead.
 */
export function weightedSchedule (hosts: readonly Host[], weightOf: (host: Host) => number, random: Random): EdfScheduler | null {
  if (hosts.length < 2 || weightsAreEqual(hosts)) return null
  const weights = new Float64Array(hosts.length)
  for (let i = 0; i < hosts.length; i++) weights[i] = weightOf(hosts[i])
  return new EdfScheduler(hosts, weights, random)
}
