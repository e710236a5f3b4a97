// RING_HASH (Envoy `RingHashLoadBalancer`, a ketama ring). Each host owns `scale × weight`
// points on a 32-bit ring; a request goes to the first point at or after the hash of its key.
// Removing a host moves the keys on its points, plus (Envoy's sizing rule, kept) the keys taken
// by the extra points each remaining host gets when the ring is re-sized: ~2/n of keys in all.

import type { Host } from '../host'
import type { HostSet } from '../host-set'
import { HostSetLoadBalancer } from './base'
import { xxHash32 } from './hash'
import type { LbContext, Random } from './types'

/** Istio's default `minimumRingSize` (and Envoy's). */
export const DEFAULT_MINIMUM_RING_SIZE = 1024
/** Envoy's default `maximum_ring_size` (8M); Istio does not expose it. */
export const DEFAULT_MAXIMUM_RING_SIZE = 8 * 1024 * 1024

const TWO_POW_32 = 4294967296

export class RingHashLoadBalancer extends HostSetLoadBalancer {
  readonly minimumRingSize: number
  readonly maximumRingSize: number
  private ringHashes: Uint32Array
  private ringHosts: Host[]
  /** Hash of the current request's key, set by beginPick. */
  private hash: number

  constructor (hostSet: HostSet, random: Random, minimumRingSize: number = DEFAULT_MINIMUM_RING_SIZE,
    maximumRingSize: number = DEFAULT_MAXIMUM_RING_SIZE) {
    super(hostSet, random)
    if (!Number.isInteger(minimumRingSize) || minimumRingSize < 1) {
      throw new RangeError(`ring hash: minimumRingSize must be a positive integer, got ${minimumRingSize}`)
    }
    if (minimumRingSize > maximumRingSize) {
      throw new RangeError(`ring hash: minimumRingSize (${minimumRingSize}) > maximumRingSize (${maximumRingSize})`)
    }
    this.minimumRingSize = minimumRingSize
    this.maximumRingSize = maximumRingSize
    this.ringHashes = new Uint32Array(0)
    this.ringHosts = []
    this.hash = 0
  }

  /** Number of points on the current ring (Envoy gauge `ring_hash_lb.size`). */
  get ringSize (): number {
    return this.ringHashes.length
  }

  protected rebuild (hosts: readonly Host[]): void {
    const n = hosts.length
    if (n === 0) {
      this.ringHashes = new Uint32Array(0)
      this.ringHosts = []
      return
    }
    let total = 0
    let minWeight = Infinity
    for (const h of hosts) {
      total += h.weight
      if (h.weight < minWeight) minWeight = h.weight
    }
    // Envoy's scaling: the lightest host gets a whole number of points, at least the minimum
    // ring size overall, capped by the maximum.
    const minNormalized = minWeight / total
    const scale = Math.min(Math.ceil(minNormalized * this.minimumRingSize) / minNormalized, this.maximumRingSize)
    const hashes: number[] = []
    const owners: Host[] = []
    // Running sums so fractional shares are distributed stably across hosts (Envoy does the same).
    let current = 0
    let target = 0
    for (const h of hosts) {
      target += scale * (h.weight / total)
      for (let i = 0; current < target; i++, current++) {
        hashes.push(xxHash32(`${h.key}_${i}`))
        owners.push(h)
      }
    }
    const order = new Array<number>(hashes.length)
    for (let i = 0; i < order.length; i++) order[i] = i
    // Break hash ties by key so the ring does not depend on host order.
    order.sort((a, b) => hashes[a] - hashes[b] || (owners[a].key < owners[b].key ? -1 : owners[a].key > owners[b].key ? 1 : 0))
    const ringHashes = new Uint32Array(order.length)
    const ringHosts = new Array<Host>(order.length)
    for (let i = 0; i < order.length; i++) {
      ringHashes[i] = hashes[order[i]]
      ringHosts[i] = owners[order[i]]
    }
    this.ringHashes = ringHashes
    this.ringHosts = ringHosts
  }

  protected override beginPick (ctx: LbContext): void {
    // No hash policy matched (e.g. header absent): Envoy uses a random hash, i.e. a random host
    // weighted by ring share.
    this.hash = ctx.hashKey === null ? Math.floor(this.random() * TWO_POW_32) : xxHash32(ctx.hashKey)
  }

  protected pick (attempt: number): Host {
    const ring = this.ringHashes
    const h = this.hash
    // First point with hash >= h, wrapping past the end to the first point.
    let lo = 0
    let hi = ring.length
    while (lo < hi) {
      const mid = (lo + hi) >>> 1
      if (ring[mid] < h) lo = mid + 1
      else hi = mid
    }
    if (lo === ring.length) lo = 0
    // A retry walks on to the next point, as if the previous host were not on the ring. It may
    // land on another point of the same host; the retry loop then tries again.
    if (attempt > 0) lo = (lo + attempt) % ring.length
    return this.ringHosts[lo]
  }
}
