// Shared test doubles for the upstream unit tests: a seeded random source and a clock whose
// time only moves when the test says so.

import type { Clock, TimerHandle } from '../../../src/upstream/outlier-detector'

/** mulberry32: small, fast, good enough to make distribution tests reproducible. */
export function seededRandom (seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) | 0
    let t = Math.imul(a ^ (a >>> 15), 1 | a)
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

interface FakeTimer extends TimerHandle {
  fn: () => void
  ms: number
  next: number
  active: boolean
  unrefed: boolean
}

export class FakeClock implements Clock {
  time: number
  readonly timers: FakeTimer[]

  constructor (start: number = 0) {
    this.time = start
    this.timers = []
  }

  now (): number {
    return this.time
  }

  setInterval (fn: () => void, ms: number): TimerHandle {
    const timer: FakeTimer = {
      fn,
      ms,
      next: this.time + ms,
      active: true,
      unrefed: false,
      unref () { timer.unrefed = true }
    }
    this.timers.push(timer)
    return timer
  }

  clearInterval (handle: TimerHandle): void {
    for (const t of this.timers) if (t === handle) t.active = false
  }

  get activeTimers (): number {
    return this.timers.filter(t => t.active).length
  }

  /** Move time forward, firing every interval due on the way, in order. */
  advance (ms: number): void {
    const end = this.time + ms
    for (;;) {
      let due: FakeTimer | null = null
      for (const t of this.timers) if (t.active && t.next <= end && (due === null || t.next < due.next)) due = t
      if (due === null) break
      this.time = due.next
      due.next += due.ms
      due.fn()
    }
    this.time = end
  }
}
