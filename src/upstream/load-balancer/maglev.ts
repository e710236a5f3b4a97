// MAGLEV (Envoy `MaglevLoadBalancer`, Google's Maglev paper, listing 1). A lookup table of prime
// size is filled by letting each host claim slots along its own permutation, in turns
// proportional to weight. Lookups are one modulo and one array read; removing a host moves
// about 1/n of the keys plus a little churn, slightly more than a ring but with even load.

import type { Host } from '../host'
import type { HostSet } from '../host-set'
import { HostSetLoadBalancer } from './base'
import { xxHash32 } from './hash'
import type { LbContext, Random } from './types'

/** Envoy's default table size (Istio does not set one unless `maglev.tableSize` is given). */
export const DEFAULT_MAGLEV_TABLE_SIZE = 65537

const TWO_POW_32 = 4294967296

export function isPrime (n: number): boolean {
  if (!Number.isInteger(n) || n < 2) return false
  if (n % 2 === 0) return n === 2
  for (let d = 3; d * d <= n; d += 2) if (n % d === 0) return false
  return true
}

export class MaglevLoadBalancer extends HostSetLoadBalancer {
  readonly tableSize: number
  /** Slot → index into tableHosts; -1 only while building. */
  private table: Int32Array
  private tableHosts: Host[]
  private hash: number

  constructor (hostSet: HostSet, random: Random, tableSize: number = DEFAULT_MAGLEV_TABLE_SIZE) {
    super(hostSet, random)
    // Envoy rejects a non-prime table: the permutations only cover every slot when the size is prime.
    if (!isPrime(tableSize)) throw new RangeError(`maglev: tableSize must be a prime number, got ${tableSize}`)
    this.tableSize = tableSize
    this.table = new Int32Array(0)
    this.tableHosts = []
    this.hash = 0
  }

  protected rebuild (hosts: readonly Host[]): void {
    const n = hosts.length
    if (n === 0) {
      this.table = new Int32Array(0)
      this.tableHosts = []
      return
    }
    const size = this.tableSize
    // Fill order must not depend on discovery order, or a reordered endpoint list would move
    // keys: sort by key as Envoy does.
    const sorted = hosts.slice().sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0))
    let maxWeight = 0
    for (const h of sorted) if (h.weight > maxWeight) maxWeight = h.weight
    const offset = new Float64Array(n)
    const skip = new Float64Array(n)
    const next = new Float64Array(n)
    const target = new Float64Array(n)
    for (let i = 0; i < n; i++) {
      offset[i] = xxHash32(sorted[i].key, 0) % size
      skip[i] = (xxHash32(sorted[i].key, 1) % (size - 1)) + 1
    }
    const table = new Int32Array(size).fill(-1)
    let filled = 0
    // A host of maximum weight claims a slot every round; one of a third of that weight every
    // third round (Envoy's target_weight bookkeeping).
    for (let round = 1; filled < size; round++) {
      for (let i = 0; i < n && filled < size; i++) {
        if (round * sorted[i].weight < target[i]) continue
        target[i] += maxWeight
        let c = (offset[i] + skip[i] * next[i]) % size
        while (table[c] !== -1) {
          next[i]++
          c = (offset[i] + skip[i] * next[i]) % size
        }
        table[c] = i
        next[i]++
        filled++
      }
    }
    this.table = table
    this.tableHosts = sorted
  }

  protected override beginPick (ctx: LbContext): void {
    this.hash = ctx.hashKey === null ? Math.floor(this.random() * TWO_POW_32) : xxHash32(ctx.hashKey)
  }

  protected pick (attempt: number): Host {
    let h = this.hash
    // Envoy xors the 64-bit hash with (2^64 - attempt) to jump far away on a retry; the same
    // in 32 bits.
    if (attempt > 0) h = (h ^ -attempt) >>> 0
    return this.tableHosts[this.table[h % this.tableSize]]
  }
}
