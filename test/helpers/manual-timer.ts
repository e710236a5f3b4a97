// An IntervalTimer the test drives: the Zipkin exporter's flush runs on tick(), not on a clock.

import type { IntervalTimer } from '../../src/observability/tracing/index'

export class ManualTimer implements IntervalTimer {
  private fns = new Map<number, () => void>()
  private next = 0
  setInterval(fn: () => void): unknown {
    this.fns.set(++this.next, fn)
    return this.next
  }
  clearInterval(handle: unknown): void {
    this.fns.delete(handle as number)
  }
  tick(): void {
    for (const fn of this.fns.values()) fn()
  }
  get active(): number {
    return this.fns.size
  }
}
