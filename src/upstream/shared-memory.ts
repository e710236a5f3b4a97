// The memory every worker shares when Ferry runs with --concurrency > 1: a file under /dev/shm
// that the primary creates before forking and each worker maps (native/shared_memory.cc).
//
// Envoy keeps circuit breakers and outlier state once per process and its worker threads share
// them; Ferry's workers are processes, so the state that must stay per cluster lives here instead.
// Everything is Int32 words used with Atomics (plus a few Float64 times written under a lock).
//
// Layout (Int32 indices):
//   header [0, HEADER_INTS): magic, layout version, max workers, entry capacity, entry stride
//   entries: an open-addressing hash table keyed by sha256(kind, name). Slots are claimed with a
//   compare-exchange on the entry's state word, so no process coordinates with any other to
//   allocate: the same cluster name (or cluster + host) finds the same entry in every worker,
//   across config reloads, and a restarted worker finds its cluster's live counts.
//
// Cluster entry payload: four breaker totals (connections, pending, requests, retries), a lock
// word (owner = worker index + 1), a health generation (bumped on every ejection / return so other
// workers' load balancers rebuild on their next pick), the last outlier tick time, then each
// worker's own contribution to the four totals. The contributions are written only by their
// owner; the primary reads them when a worker dies and subtracts them from the totals, so a crash
// never leaks a connection slot (Envoy has no such problem: its workers are threads that die
// together).
//
// Host entry payload: ejected flag, ejection count, backoff multiplier, the three consecutive
// error counters, and ejected-until / last ejection / last return times on a clock every process
// shares (CLOCK_MONOTONIC through process.hrtime).

import * as path from 'node:path'
import { createHash } from 'node:crypto'

interface SharedMemoryAddon {
  open (file: string, bytes: number, create: boolean): ArrayBuffer
  unlink (file: string): boolean
}

const ROOT = path.resolve(__dirname, '..', '..')
const CANDIDATES = [
  path.join(ROOT, 'build', 'Release', 'shared_memory.node'),
  path.join(ROOT, 'build', 'Debug', 'shared_memory.node')
]

let loadError = 'not found in build/Release or build/Debug (run `npm rebuild` with a C++ toolchain)'

function loadAddon (): SharedMemoryAddon | null {
  const explicit = process.env.FERRY_SHARED_MEMORY_ADDON
  for (const file of explicit !== undefined && explicit !== '' ? [explicit] : CANDIDATES) {
    try {
      const m = require(file) as Partial<SharedMemoryAddon>
      if (typeof m.open === 'function' && typeof m.unlink === 'function') return m as SharedMemoryAddon
    } catch (err) {
      loadError = `${file}: ${(err as Error).message.split('\n')[0]}`
    }
  }
  return null
}

let addon: SharedMemoryAddon | null | undefined

function getAddon (): SharedMemoryAddon | null {
  if (addon === undefined) addon = process.platform === 'linux' ? loadAddon() : null
  if (addon === null && process.platform !== 'linux') loadError = `shared memory is implemented for Linux only (this is ${process.platform})`
  return addon
}

/** Null when shared memory works here; otherwise the reason, for the log line that explains the fallback. */
export function sharedMemoryUnavailableReason (): string | null {
  return getAddon() === null ? loadError : null
}

export const MAGIC = 0x46455259 // "FERY"
export const LAYOUT_VERSION = 1
export const HEADER_INTS = 16

// Entry words common to both kinds.
export const E_STATE = 0
export const E_KIND = 1
const E_DIGEST = 2 // 8 words of sha256
export const E_PAYLOAD = 10

const STATE_EMPTY = 0
const STATE_CLAIMING = 1
const STATE_READY = 2

export const KIND_CLUSTER = 1
export const KIND_HOST = 2

// Cluster payload, relative to the entry.
export const C_TOTALS = 10 // 4 words: connections, pending, requests, retries
export const C_LOCK = 14
export const C_HEALTH_GEN = 15
export const C_LAST_TICK = 16 // Float64 (words 16-17)
export const C_PER_WORKER = 18 // 4 words per worker

// Host payload, relative to the entry.
export const H_EJECTED = 10
export const H_EJECTION_COUNT = 11
export const H_BACKOFF = 12
export const H_CONSECUTIVE_5XX = 13
export const H_CONSECUTIVE_GATEWAY = 14
export const H_CONSECUTIVE_LOCAL_ORIGIN = 15
export const H_EJECTED_UNTIL = 16 // Float64
export const H_LAST_EJECTION = 18 // Float64
export const H_LAST_UNEJECTION = 20 // Float64
const HOST_INTS = 22

export const RESOURCE_CONNECTIONS = 0
export const RESOURCE_PENDING = 1
export const RESOURCE_REQUESTS = 2
export const RESOURCE_RETRIES = 3

/** Entries when nothing says otherwise: every cluster plus every host of a cluster with outlier detection. */
export const DEFAULT_ENTRIES = 16384

export interface SegmentLayout {
  maxWorkers: number
  entries: number
}

function strideFor (maxWorkers: number): number {
  const ints = Math.max(HOST_INTS, C_PER_WORKER + 4 * maxWorkers)
  return ints + (ints & 1) // even, so Float64 words stay 8-byte aligned
}

export function segmentBytes (layout: SegmentLayout): number {
  return 4 * (HEADER_INTS + layout.entries * strideFor(layout.maxWorkers))
}

/** A system-wide monotonic clock in ms (CLOCK_MONOTONIC): the same in every worker, unlike performance.now(). */
export function sharedNow (): number {
  const t = process.hrtime()
  return t[0] * 1e3 + t[1] / 1e6
}

export class SharedSegment {
  readonly i32: Int32Array
  readonly f64: Float64Array
  readonly maxWorkers: number
  readonly entries: number
  readonly stride: number
  private readonly index: Map<string, number>

  private constructor (readonly file: string, buffer: ArrayBuffer, readonly owner: boolean) {
    this.i32 = new Int32Array(buffer)
    this.f64 = new Float64Array(buffer)
    const h = this.i32
    if (h[0] !== MAGIC || h[1] !== LAYOUT_VERSION) throw new Error(`${file}: not a Ferry shared segment (layout ${LAYOUT_VERSION})`)
    this.maxWorkers = h[2]
    this.entries = h[3]
    this.stride = h[4]
    this.index = new Map()
  }

  /** The primary: a new zeroed segment (fails if the file exists). */
  static create (file: string, layout: SegmentLayout): SharedSegment {
    const a = getAddon()
    if (a === null) throw new Error(`shared memory unavailable: ${loadError}`)
    if (!(Number.isInteger(layout.maxWorkers) && layout.maxWorkers >= 1 && Number.isInteger(layout.entries) && layout.entries >= 16)) {
      throw new RangeError(`shared segment: bad layout ${JSON.stringify(layout)}`)
    }
    const buf = a.open(file, segmentBytes(layout), true)
    const h = new Int32Array(buf, 0, HEADER_INTS)
    h[1] = LAYOUT_VERSION
    h[2] = layout.maxWorkers
    h[3] = layout.entries
    h[4] = strideFor(layout.maxWorkers)
    // Magic last: a worker that maps a half-initialised header refuses it rather than trusting it.
    Atomics.store(h, 0, MAGIC)
    return new SharedSegment(file, buf, true)
  }

  /** A worker: the primary's segment, by path. */
  static attach (file: string): SharedSegment {
    const a = getAddon()
    if (a === null) throw new Error(`shared memory unavailable: ${loadError}`)
    const head = new Int32Array(a.open(file, 4 * HEADER_INTS, false))
    const layout = { maxWorkers: head[2], entries: head[3] }
    if (head[0] !== MAGIC) throw new Error(`${file}: not a Ferry shared segment`)
    return new SharedSegment(file, a.open(file, segmentBytes(layout), false), false)
  }

  /** The primary removes the name when it exits; mappings stay valid until each process unmaps. */
  unlink (): void {
    getAddon()?.unlink(this.file)
  }

  /** Int32 index of entry `slot`'s first word. */
  base (slot: number): number {
    return HEADER_INTS + slot * this.stride
  }

  /**
   * The entry for (kind, name), claimed on first use by whichever process gets there first;
   * -1 when the table is full. Looked up when a cluster or host is built, never per request.
   */
  entry (kind: number, name: string): number {
    const cacheKey = `${kind}\0${name}`
    const cached = this.index.get(cacheKey)
    if (cached !== undefined) return cached
    const digest = createHash('sha256').update(cacheKey).digest()
    const words = new Int32Array(8)
    for (let i = 0; i < 8; i++) words[i] = digest.readInt32LE(4 * i)
    const i32 = this.i32
    const start = (words[0] >>> 0) % this.entries
    for (let probe = 0; probe < this.entries; probe++) {
      const slot = (start + probe) % this.entries
      const b = this.base(slot)
      for (;;) {
        const state = Atomics.load(i32, b + E_STATE)
        if (state === STATE_EMPTY) {
          if (Atomics.compareExchange(i32, b + E_STATE, STATE_EMPTY, STATE_CLAIMING) !== STATE_EMPTY) continue
          i32[b + E_KIND] = kind
          for (let i = 0; i < 8; i++) i32[b + E_DIGEST + i] = words[i]
          Atomics.store(i32, b + E_STATE, STATE_READY)
          this.index.set(cacheKey, b)
          return b
        }
        // Another process is writing this entry's key: a few stores, so wait for it.
        if (state === STATE_CLAIMING) continue
        break
      }
      if (i32[b + E_KIND] !== kind) continue
      let same = true
      for (let i = 0; i < 8 && same; i++) same = i32[b + E_DIGEST + i] === words[i]
      if (same) {
        this.index.set(cacheKey, b)
        return b
      }
    }
    return -1
  }

  /**
   * A worker is gone (crash, kill): take its contributions out of every cluster's totals and
   * release any lock it held, so its connections and pending requests do not stay counted.
   * Called by the primary only, after the worker's process has exited.
   */
  reclaimWorker (worker: number): void {
    const i32 = this.i32
    for (let slot = 0; slot < this.entries; slot++) {
      const b = this.base(slot)
      if (Atomics.load(i32, b + E_STATE) !== STATE_READY || i32[b + E_KIND] !== KIND_CLUSTER) continue
      for (let r = 0; r < 4; r++) {
        const col = b + C_PER_WORKER + 4 * worker + r
        const held = i32[col]
        if (held !== 0) {
          Atomics.sub(i32, b + C_TOTALS + r, held)
          i32[col] = 0
        }
      }
      Atomics.compareExchange(i32, b + C_LOCK, worker + 1, 0)
    }
  }

  /** Spin lock on a cluster entry (owner = worker + 1); held for a few microseconds around ejections only. */
  lock (clusterBase: number, worker: number): void {
    const i32 = this.i32
    while (Atomics.compareExchange(i32, clusterBase + C_LOCK, 0, worker + 1) !== 0) { /* another worker is ejecting */ }
  }

  unlock (clusterBase: number, worker: number): void {
    Atomics.compareExchange(this.i32, clusterBase + C_LOCK, worker + 1, 0)
  }
}
