// Outlier detection whose state is shared by every worker process (--concurrency > 1).
//
// Envoy keeps one detector per cluster: workers report responses into per-host atomic counters,
// and the main thread ejects and returns hosts; every worker's load balancer then sees the new
// healthy set. Ferry's workers are processes, so the per-host record lives in shared memory:
//   - the consecutive-error counters are Atomics: five 5xx split across two workers still eject
//     at five, and exactly one worker sees the counter reach the threshold;
//   - eject and return run under the cluster's lock word, so maxEjectionPercent is checked
//     against every worker's ejections, not just this one's;
//   - every change bumps the cluster's health generation; the HostSet compares it on each pick
//     (one Atomics.load) and rebuilds from shared memory when it moved, so an ejection made by one
//     worker is honoured by the next request any other worker routes.
//   - the interval tick runs in every worker but does its work once per interval for the cluster
//     (the last tick time is shared), so the backoff shrinks once per interval as in Envoy.
// Times use CLOCK_MONOTONIC, the one clock all processes share.
//
// The decisions are the same as OutlierDetector's (outlier-detector.ts), which stays the
// implementation for a single process; see there for the Envoy facts they follow.

import type { Host } from './host'
import type { HealthSource, HostSet } from './host-set'
import {
  OutlierCounters, SYSTEM_CLOCK,
  type Clock, type LocalOriginFailure, type OutlierDetectionConfig, type OutlierDetector, type OutlierEjectionType, type TimerHandle
} from './outlier-detector'
import {
  C_HEALTH_GEN, C_LAST_TICK, H_BACKOFF, H_CONSECUTIVE_5XX, H_CONSECUTIVE_GATEWAY, H_CONSECUTIVE_LOCAL_ORIGIN,
  H_EJECTED, H_EJECTED_UNTIL, H_EJECTION_COUNT, H_LAST_EJECTION, H_LAST_UNEJECTION, KIND_HOST, sharedNow, type SharedSegment
} from './shared-memory'

/** The system clock, but with a time base every process shares. */
export const SHARED_CLOCK: Clock = { ...SYSTEM_CLOCK, now: sharedNow }

// A tick is "this interval's" when at least this fraction of the interval passed since the last
// one any worker ran: workers' timers are out of phase, and timer jitter must not skip a tick.
const TICK_SLACK = 0.9

export class SharedOutlierDetector extends OutlierCounters implements OutlierDetector, HealthSource {
  private readonly i32: Int32Array
  private readonly f64: Float64Array
  private timer: TimerHandle | null
  private seenGeneration: number

  constructor (
    config: OutlierDetectionConfig,
    readonly hostSet: HostSet,
    private readonly segment: SharedSegment,
    private readonly cluster: number,
    private readonly clusterName: string,
    private readonly worker: number,
    private readonly clock: Clock = SHARED_CLOCK
  ) {
    super(config)
    this.i32 = segment.i32
    this.f64 = segment.f64
    this.seenGeneration = -1
    hostSet.healthSource = this
    // A worker that starts (or restarts) after others ejected hosts begins with their view.
    this.sync()
    this.timer = clock.setInterval(() => { this.onIntervalTimer() }, config.intervalMs)
    if (typeof this.timer.unref === 'function') this.timer.unref()
  }

  /** Int32 index of the host's shared record (assigned on first use, kept on the Host). */
  private entryOf (host: Host): number {
    if (host.sharedEntry < 0) {
      host.sharedEntry = this.segment.entry(KIND_HOST, `${this.clusterName}\0${host.key}`)
      // Table full: the host keeps a private record so it is never mistaken for another's.
      if (host.sharedEntry < 0) throw new Error(`shared memory full: no record for host ${host.key} of ${this.clusterName}`)
    }
    return host.sharedEntry
  }

  get ejectionsActive (): number {
    let n = 0
    for (const h of this.hostSet.hosts) if (this.i32[this.entryOf(h) + H_EJECTED] !== 0) n++
    return n
  }

  /** HealthSource: called by the load balancer before each pick. */
  sync (): void {
    const gen = Atomics.load(this.i32, this.cluster + C_HEALTH_GEN)
    if (gen === this.seenGeneration) return
    this.seenGeneration = gen
    const i32 = this.i32
    const f64 = this.f64
    for (const h of this.hostSet.hosts) {
      const e = this.entryOf(h)
      h.ejected = i32[e + H_EJECTED] !== 0
      h.ejectionCount = i32[e + H_EJECTION_COUNT]
      h.ejectTimeBackoff = i32[e + H_BACKOFF]
      h.ejectedUntil = h.ejected ? f64[(e + H_EJECTED_UNTIL) >> 1] : 0
      h.lastEjectionTime = i32[e + H_EJECTION_COUNT] > 0 ? f64[(e + H_LAST_EJECTION) >> 1] : -1
      h.lastUnejectionTime = f64[(e + H_LAST_UNEJECTION) >> 1] > 0 ? f64[(e + H_LAST_UNEJECTION) >> 1] : -1
    }
    this.hostSet.healthChanged()
    // ejections_active is the cluster-wide count, the same in every worker.
    this.sink?.ejections_active.set(this.ejectionsActive)
  }

  // The counters (OutlierCounters) count this worker's detections and ejections; the primary
  // sums them over workers.

  putHttpResponseCode (host: Host, status: number): void {
    const e = this.entryOf(host)
    const i32 = this.i32
    if (status >= 500 && status <= 599) {
      if (status >= 502 && status <= 504) {
        if (Atomics.add(i32, e + H_CONSECUTIVE_GATEWAY, 1) + 1 === this.thresholdGateway) this.onConsecutiveError(host, e, 'consecutive_gateway_failure')
      } else if (i32[e + H_CONSECUTIVE_GATEWAY] !== 0) {
        Atomics.store(i32, e + H_CONSECUTIVE_GATEWAY, 0)
      }
      if (Atomics.add(i32, e + H_CONSECUTIVE_5XX, 1) + 1 === this.threshold5xx) this.onConsecutiveError(host, e, 'consecutive_5xx')
    } else {
      // Read before writing: a healthy host's record stays in every core's cache unmodified.
      if (i32[e + H_CONSECUTIVE_5XX] !== 0) Atomics.store(i32, e + H_CONSECUTIVE_5XX, 0)
      if (i32[e + H_CONSECUTIVE_GATEWAY] !== 0) Atomics.store(i32, e + H_CONSECUTIVE_GATEWAY, 0)
    }
  }

  putLocalOriginFailure (host: Host, kind: LocalOriginFailure): void {
    if (!this.split) {
      this.putHttpResponseCode(host, kind === 'timeout' ? 504 : 503)
      return
    }
    const e = this.entryOf(host)
    if (Atomics.add(this.i32, e + H_CONSECUTIVE_LOCAL_ORIGIN, 1) + 1 === this.thresholdLocalOrigin) {
      this.onConsecutiveError(host, e, 'consecutive_local_origin_failure')
    }
  }

  putLocalOriginSuccess (host: Host): void {
    if (!this.split) return
    const e = this.entryOf(host)
    if (this.i32[e + H_CONSECUTIVE_LOCAL_ORIGIN] !== 0) Atomics.store(this.i32, e + H_CONSECUTIVE_LOCAL_ORIGIN, 0)
  }

  close (): void {
    if (this.timer !== null) {
      this.clock.clearInterval(this.timer)
      this.timer = null
    }
    if (this.hostSet.healthSource === this) this.hostSet.healthSource = null
  }

  private onConsecutiveError (host: Host, e: number, type: OutlierEjectionType): void {
    const i32 = this.i32
    if (!this.hostSet.has(host)) return
    if (Atomics.load(i32, e + H_EJECTED) === 0) {
      this.countDetected(type)
      this.segment.lock(this.cluster, this.worker)
      try {
        if (i32[e + H_EJECTED] === 0) this.ejectHost(e, type)
      } finally {
        this.segment.unlock(this.cluster, this.worker)
      }
    }
    switch (type) {
      case 'consecutive_5xx': Atomics.store(i32, e + H_CONSECUTIVE_5XX, 0); break
      case 'consecutive_gateway_failure': Atomics.store(i32, e + H_CONSECUTIVE_GATEWAY, 0); break
      case 'consecutive_local_origin_failure': Atomics.store(i32, e + H_CONSECUTIVE_LOCAL_ORIGIN, 0); break
    }
    this.sync()
  }

  /** Under the cluster lock. */
  private ejectHost (e: number, type: OutlierEjectionType): void {
    const i32 = this.i32
    const f64 = this.f64
    const ejectedPercent = (100 * (this.ejectionsActive + 1)) / this.hostSet.hosts.length
    if (ejectedPercent > this.maxEjectionPercent) {
      this.countOverflow()
      return
    }
    const now = this.clock.now()
    let backoff = i32[e + H_BACKOFF]
    if (backoff * this.baseEjectionTimeMs < this.maxEjectionTimeMs + this.baseEjectionTimeMs) backoff++
    i32[e + H_BACKOFF] = backoff
    i32[e + H_EJECTION_COUNT]++
    f64[(e + H_LAST_EJECTION) >> 1] = now
    f64[(e + H_EJECTED_UNTIL) >> 1] = now + Math.min(this.baseEjectionTimeMs * backoff, this.maxEjectionTimeMs)
    Atomics.store(i32, e + H_EJECTED, 1)
    Atomics.add(i32, this.cluster + C_HEALTH_GEN, 1)
    this.countEnforced(type)
  }

  /** The interval tick: returns hosts whose time is up and forgives backoff, once per interval across workers. */
  onIntervalTimer (): void {
    const i32 = this.i32
    const f64 = this.f64
    const now = this.clock.now()
    const lastTick = this.cluster + C_LAST_TICK
    this.segment.lock(this.cluster, this.worker)
    try {
      if (now - f64[lastTick >> 1] < this.intervalMs * TICK_SLACK) return
      f64[lastTick >> 1] = now
      let changed = false
      for (const h of this.hostSet.hosts) {
        const e = this.entryOf(h)
        if (i32[e + H_EJECTED] !== 0 && f64[(e + H_EJECTED_UNTIL) >> 1] <= now) {
          Atomics.store(i32, e + H_CONSECUTIVE_5XX, 0)
          Atomics.store(i32, e + H_CONSECUTIVE_GATEWAY, 0)
          Atomics.store(i32, e + H_CONSECUTIVE_LOCAL_ORIGIN, 0)
          f64[(e + H_LAST_UNEJECTION) >> 1] = now
          f64[(e + H_EJECTED_UNTIL) >> 1] = 0
          Atomics.store(i32, e + H_EJECTED, 0)
          changed = true
        }
      }
      for (const h of this.hostSet.hosts) {
        const e = this.entryOf(h)
        const lastReturn = f64[(e + H_LAST_UNEJECTION) >> 1]
        if (i32[e + H_EJECTED] === 0 && i32[e + H_BACKOFF] > 0 && lastReturn > 0 && now - lastReturn >= this.intervalMs) i32[e + H_BACKOFF]--
      }
      if (changed) Atomics.add(i32, this.cluster + C_HEALTH_GEN, 1)
    } finally {
      this.segment.unlock(this.cluster, this.worker)
      this.sync()
    }
  }
}
