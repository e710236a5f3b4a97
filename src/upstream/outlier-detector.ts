// Envoy outlier detection, consecutive-error kinds only (`DetectorImpl`), which is all Istio
// enables: it writes enforcing_success_rate 0 and never sets failure-percentage enforcement.
//
// Facts followed from Envoy (outlier_detection_impl.cc):
// - Any 5xx counts toward consecutive_5xx; 502/503/504 also toward consecutive_gateway_failure;
//   any other status resets both counters. A threshold fires when the counter *equals* it, and
//   the counter is reset after the ejection attempt, even when the attempt overflowed.
// - Local-origin failures (connect failure, reset, per-try timeout). Without
//   splitExternalLocalOriginErrors they are fed in as HTTP codes: connect failure and reset as
//   503, timeout as 504 (the router does so). With it they have their own counter, and a
//   successful connection resets it.
// - Ejection is refused (ejections_overflow) when (active + 1) / hosts > maxEjectionPercent.
//   So with the default 10% and fewer than 10 hosts nothing is ever ejected; that is Envoy's
//   (and Istio's) behaviour and Ferry keeps it.
// - Ejection time = min(base × backoff, max_ejection_time). `backoff` grows by one per
//   ejection (while base × backoff < max + base) and shrinks by one on every interval tick
//   at which the host is healthy and was restored at least one interval ago. max_ejection_time
//   is max(300 s, base) by default; Istio does not expose it.
// - Hosts come back only on the interval tick, never earlier.
//
// Where Ferry differs: Envoy posts the ejection from the worker to the main thread; Ferry has one
// thread and ejects synchronously inside putHttpResponseCode, so the very next pick already
// avoids the host. No max_ejection_time_jitter (Istio leaves it at 0). An un-enforced kind
// (Istio's consecutiveGatewayErrors unset: Envoy detects at 5 but enforces 0%) is simply off.

import type { Host } from './host'
import type { HostSet } from './host-set'
import type { Counter, Gauge } from '../observability/stats/metric'

/**
 * Envoy's `cluster.<name>.outlier_detection.*` handles (ClusterStats.outlier_detection fits).
 * Written only when an ejection is detected, enforced, refused or lifted, never per response.
 */
export interface OutlierStatsSink {
  readonly ejections_active: Gauge
  readonly ejections_enforced_total: Counter
  readonly ejections_overflow: Counter
  readonly ejections_total: Counter
  readonly ejections_consecutive_5xx: Counter
  readonly ejections_enforced_consecutive_5xx: Counter
  readonly ejections_detected_consecutive_5xx: Counter
  readonly ejections_enforced_consecutive_gateway_failure: Counter
  readonly ejections_detected_consecutive_gateway_failure: Counter
  readonly ejections_enforced_consecutive_local_origin_failure: Counter
  readonly ejections_detected_consecutive_local_origin_failure: Counter
}

export interface TimerHandle {
  unref?: () => unknown
}

/** Monotonic milliseconds plus a repeating timer, injected so tests can drive time by hand. */
export interface Clock {
  now (): number
  setInterval (fn: () => void, ms: number): TimerHandle
  clearInterval (handle: TimerHandle): void
}

export const SYSTEM_CLOCK: Clock = {
  now: () => performance.now(),
  setInterval: (fn, ms) => setInterval(fn, ms),
  clearInterval: (handle) => { clearInterval(handle as NodeJS.Timeout) }
}

export interface OutlierDetectionConfig {
  /** Istio consecutive5xxErrors; null (or <= 0) disables. */
  consecutive5xx: number | null
  /** Istio consecutiveGatewayErrors; null (or <= 0) disables. */
  consecutiveGatewayErrors: number | null
  /** Istio consecutiveLocalOriginFailures; only used with splitExternalLocalOriginErrors. */
  consecutiveLocalOriginFailures: number | null
  splitExternalLocalOriginErrors: boolean
  /** Istio interval, default 10 s: how often ejected hosts are checked for return. */
  intervalMs: number
  /** Istio baseEjectionTime, default 30 s. */
  baseEjectionTimeMs: number
  /** Istio maxEjectionPercent, default 10. */
  maxEjectionPercent: number
  /** Istio minHealthPercent: the HostSet's panic threshold; the detector itself does not use it. */
  minHealthPercent: number
  /** Envoy max_ejection_time (not in Istio's API). Default max(300 s, baseEjectionTime). */
  maxEjectionTimeMs?: number
}

export type LocalOriginFailure = 'connect-failure' | 'timeout' | 'reset'

export type OutlierEjectionType = 'consecutive_5xx' | 'consecutive_gateway_failure' | 'consecutive_local_origin_failure'

/** What the router and connection pool report to, per cluster. */
export interface OutlierDetector {
  putHttpResponseCode (host: Host, status: number): void
  putLocalOriginFailure (host: Host, kind: LocalOriginFailure): void
  /** A connection to the host was established (resets the split local-origin counter). */
  putLocalOriginSuccess (host: Host): void
  /** Stop the interval timer; ejected hosts stay as they are. */
  close (): void
  /** Mirror the counts below into `/stats` from now on (the cluster's stats outlive a rebuilt detector). */
  bindStats? (sink: OutlierStatsSink): void

  // Stats `outlier_detection.*`.
  /** Gauge `ejections_active`. */
  readonly ejectionsActive: number
  /** Counter `ejections_enforced_total`. */
  readonly ejectionsEnforcedTotal: number
  /** Counter `ejections_overflow`: ejections refused by maxEjectionPercent. */
  readonly ejectionsOverflow: number
  readonly ejectionsEnforcedConsecutive5xx: number
  readonly ejectionsEnforcedConsecutiveGatewayFailure: number
  readonly ejectionsEnforcedConsecutiveLocalOriginFailure: number
  readonly ejectionsDetectedConsecutive5xx: number
  readonly ejectionsDetectedConsecutiveGatewayFailure: number
  readonly ejectionsDetectedConsecutiveLocalOriginFailure: number
}

/** Envoy stat name → OutlierDetector property, for the stats table (style habit 8). */
export const OUTLIER_DETECTION_STATS = [
  { name: 'ejections_active', type: 'gauge', field: 'ejectionsActive' },
  { name: 'ejections_enforced_total', type: 'counter', field: 'ejectionsEnforcedTotal' },
  { name: 'ejections_overflow', type: 'counter', field: 'ejectionsOverflow' },
  { name: 'ejections_enforced_consecutive_5xx', type: 'counter', field: 'ejectionsEnforcedConsecutive5xx' },
  { name: 'ejections_enforced_consecutive_gateway_failure', type: 'counter', field: 'ejectionsEnforcedConsecutiveGatewayFailure' },
  { name: 'ejections_enforced_consecutive_local_origin_failure', type: 'counter', field: 'ejectionsEnforcedConsecutiveLocalOriginFailure' },
  { name: 'ejections_detected_consecutive_5xx', type: 'counter', field: 'ejectionsDetectedConsecutive5xx' },
  { name: 'ejections_detected_consecutive_gateway_failure', type: 'counter', field: 'ejectionsDetectedConsecutiveGatewayFailure' },
  { name: 'ejections_detected_consecutive_local_origin_failure', type: 'counter', field: 'ejectionsDetectedConsecutiveLocalOriginFailure' }
] as const satisfies ReadonlyArray<{ name: string, type: 'gauge' | 'counter', field: keyof OutlierDetector }>

/** Envoy's floor for max_ejection_time when it is not configured. */
export const DEFAULT_MAX_EJECTION_TIME_MS = 300_000

/** Validates a detector's config (constructors trust nothing) and returns its max ejection time. */
function checkedMaxEjectionTime (config: OutlierDetectionConfig): number {
  if (!(config.intervalMs > 0)) throw new RangeError(`outlier detection: interval must be > 0, got ${config.intervalMs}`)
  if (!(config.baseEjectionTimeMs > 0)) {
    throw new RangeError(`outlier detection: baseEjectionTime must be > 0, got ${config.baseEjectionTimeMs}`)
  }
  if (!(config.maxEjectionPercent >= 0 && config.maxEjectionPercent <= 100)) {
    throw new RangeError(`outlier detection: maxEjectionPercent must be within [0, 100], got ${config.maxEjectionPercent}`)
  }
  const maxEjection = config.maxEjectionTimeMs ?? Math.max(DEFAULT_MAX_EJECTION_TIME_MS, config.baseEjectionTimeMs)
  // Envoy refuses this configuration too.
  if (maxEjection < config.baseEjectionTimeMs) {
    throw new RangeError('outlier detection: maxEjectionTime cannot be smaller than baseEjectionTime')
  }
  return maxEjection
}

/**
 * The detection and ejection counters every detector keeps, mirrored into the cluster's stats
 * sink once one is bound. Shared by the in-process and the shared-memory detectors so the two
 * count exactly alike.
 */
export abstract class OutlierCounters {
  readonly intervalMs: number
  readonly baseEjectionTimeMs: number
  readonly maxEjectionTimeMs: number
  readonly maxEjectionPercent: number
  readonly split: boolean
  // Thresholds with 0 meaning off: a counter is compared after ++, so it never equals 0.
  protected readonly threshold5xx: number
  protected readonly thresholdGateway: number
  protected readonly thresholdLocalOrigin: number
  protected sink: OutlierStatsSink | null = null
  ejectionsEnforcedTotal = 0
  ejectionsOverflow = 0
  ejectionsEnforcedConsecutive5xx = 0
  ejectionsEnforcedConsecutiveGatewayFailure = 0
  ejectionsEnforcedConsecutiveLocalOriginFailure = 0
  ejectionsDetectedConsecutive5xx = 0
  ejectionsDetectedConsecutiveGatewayFailure = 0
  ejectionsDetectedConsecutiveLocalOriginFailure = 0

  /** The settings both detectors (one process, or workers sharing memory) read from Istio's config. */
  constructor (config: OutlierDetectionConfig) {
    this.intervalMs = config.intervalMs
    this.baseEjectionTimeMs = config.baseEjectionTimeMs
    this.maxEjectionTimeMs = checkedMaxEjectionTime(config)
    this.maxEjectionPercent = config.maxEjectionPercent
    this.split = config.splitExternalLocalOriginErrors
    this.threshold5xx = positiveOrOff(config.consecutive5xx)
    this.thresholdGateway = positiveOrOff(config.consecutiveGatewayErrors)
    this.thresholdLocalOrigin = this.split ? positiveOrOff(config.consecutiveLocalOriginFailures) : 0
  }

  abstract get ejectionsActive (): number

  bindStats (sink: OutlierStatsSink): void {
    this.sink = sink
    sink.ejections_active.set(this.ejectionsActive)
  }

  /** A threshold was reached (Envoy's ejections_detected_*), whether or not the host is ejected. */
  protected countDetected (type: OutlierEjectionType): void {
    switch (type) {
      case 'consecutive_5xx': this.ejectionsDetectedConsecutive5xx++; break
      case 'consecutive_gateway_failure': this.ejectionsDetectedConsecutiveGatewayFailure++; break
      case 'consecutive_local_origin_failure': this.ejectionsDetectedConsecutiveLocalOriginFailure++; break
    }
    const sink = this.sink
    if (sink === null) return
    sink.ejections_total.inc()
    switch (type) {
      case 'consecutive_5xx': sink.ejections_detected_consecutive_5xx.inc(); sink.ejections_consecutive_5xx.inc(); break
      case 'consecutive_gateway_failure': sink.ejections_detected_consecutive_gateway_failure.inc(); break
      case 'consecutive_local_origin_failure': sink.ejections_detected_consecutive_local_origin_failure.inc(); break
    }
  }

  protected countEnforced (type: OutlierEjectionType): void {
    this.ejectionsEnforcedTotal++
    switch (type) {
      case 'consecutive_5xx': this.ejectionsEnforcedConsecutive5xx++; break
      case 'consecutive_gateway_failure': this.ejectionsEnforcedConsecutiveGatewayFailure++; break
      case 'consecutive_local_origin_failure': this.ejectionsEnforcedConsecutiveLocalOriginFailure++; break
    }
    const sink = this.sink
    if (sink === null) return
    sink.ejections_enforced_total.inc()
    switch (type) {
      case 'consecutive_5xx': sink.ejections_enforced_consecutive_5xx.inc(); break
      case 'consecutive_gateway_failure': sink.ejections_enforced_consecutive_gateway_failure.inc(); break
      case 'consecutive_local_origin_failure': sink.ejections_enforced_consecutive_local_origin_failure.inc(); break
    }
  }

  /** Ejecting would pass maxEjectionPercent. */
  protected countOverflow (): void {
    this.ejectionsOverflow++
    this.sink?.ejections_overflow.inc()
  }
}

class OutlierDetectorImpl extends OutlierCounters implements OutlierDetector {
  readonly hostSet: HostSet
  readonly clock: Clock
  private timer: TimerHandle | null

  constructor (config: OutlierDetectionConfig, hostSet: HostSet, clock: Clock = SYSTEM_CLOCK) {
    super(config)
    this.hostSet = hostSet
    this.clock = clock
    // One closure per detector, not per request. unref: a detector must never keep the
    // process alive during shutdown.
    this.timer = clock.setInterval(() => { this.onIntervalTimer() }, config.intervalMs)
    if (typeof this.timer.unref === 'function') this.timer.unref()
  }

  /** Derived from the hosts so it stays right when the registry removes an ejected host. */
  get ejectionsActive (): number {
    let n = 0
    for (const h of this.hostSet.hosts) if (h.ejected) n++
    return n
  }

  putHttpResponseCode (host: Host, status: number): void {
    if (status >= 500 && status <= 599) {
      // Gateway first, as in Envoy: if both fire on the same response the host is ejected as
      // a gateway failure and the 5xx trigger finds it already ejected.
      if (status >= 502 && status <= 504) {
        if (++host.consecutiveGatewayFailure === this.thresholdGateway) this.onConsecutiveError(host, 'consecutive_gateway_failure')
      } else {
        host.consecutiveGatewayFailure = 0
      }
      if (++host.consecutive5xx === this.threshold5xx) this.onConsecutiveError(host, 'consecutive_5xx')
    } else {
      host.consecutive5xx = 0
      host.consecutiveGatewayFailure = 0
    }
  }

  putLocalOriginFailure (host: Host, kind: LocalOriginFailure): void {
    if (!this.split) {
      // Envoy's router reports resets and connect failures as LocalOriginConnectFailed (→ 503)
      // and per-try timeouts with the timeout response code (504).
      this.putHttpResponseCode(host, kind === 'timeout' ? 504 : 503)
      return
    }
    if (++host.consecutiveLocalOriginFailure === this.thresholdLocalOrigin) {
      this.onConsecutiveError(host, 'consecutive_local_origin_failure')
    }
  }

  putLocalOriginSuccess (host: Host): void {
    // Without the split, a successful connect says nothing about the eventual HTTP status,
    // so Envoy maps it to no code at all.
    if (this.split) host.consecutiveLocalOriginFailure = 0
  }

  close (): void {
    if (this.timer !== null) {
      this.clock.clearInterval(this.timer)
      this.timer = null
    }
  }

  private onConsecutiveError (host: Host, type: OutlierEjectionType): void {
    // A response from a request that was in flight when the host was removed or ejected.
    if (host.ejected || !this.hostSet.has(host)) return
    this.countDetected(type)
    this.ejectHost(host, type)
    // Reset so a fresh run of errors is needed to try again, whether or not we ejected.
    switch (type) {
      case 'consecutive_5xx': host.consecutive5xx = 0; break
      case 'consecutive_gateway_failure': host.consecutiveGatewayFailure = 0; break
      case 'consecutive_local_origin_failure': host.consecutiveLocalOriginFailure = 0; break
    }
  }

  private ejectHost (host: Host, type: OutlierEjectionType): void {
    const total = this.hostSet.hosts.length
    const ejectedPercent = (100 * (this.ejectionsActive + 1)) / total
    if (ejectedPercent > this.maxEjectionPercent) {
      this.countOverflow()
      return
    }
    const now = this.clock.now()
    host.ejected = true
    host.ejectionCount++
    host.lastEjectionTime = now
    if (host.ejectTimeBackoff * this.baseEjectionTimeMs < this.maxEjectionTimeMs + this.baseEjectionTimeMs) {
      host.ejectTimeBackoff++
    }
    host.ejectedUntil = now + Math.min(this.baseEjectionTimeMs * host.ejectTimeBackoff, this.maxEjectionTimeMs)
    this.countEnforced(type)
    this.hostSet.healthChanged()
    this.sink?.ejections_active.set(this.ejectionsActive)
  }

  private unejectHost (host: Host, now: number): void {
    host.ejected = false
    host.ejectedUntil = 0
    // Start from zero so a host close to a threshold before ejection is not thrown out again
    // by one or two errors.
    host.consecutive5xx = 0
    host.consecutiveGatewayFailure = 0
    host.consecutiveLocalOriginFailure = 0
    host.lastUnejectionTime = now
  }

  /** The interval tick; public so a cluster can force a check (tests, admin). */
  onIntervalTimer (): void {
    const now = this.clock.now()
    const hosts = this.hostSet.hosts
    let changed = false
    for (const h of hosts) {
      if (h.ejected && h.ejectedUntil <= now) {
        this.unejectHost(h, now)
        changed = true
      }
    }
    // A host that stayed healthy for a whole interval since its return earns back one step of
    // backoff per tick; the host restored in this very tick has not yet.
    for (const h of hosts) {
      if (!h.ejected && h.ejectTimeBackoff > 0 && h.lastUnejectionTime >= 0 && now - h.lastUnejectionTime >= this.intervalMs) {
        h.ejectTimeBackoff--
      }
    }
    if (changed) {
      this.hostSet.healthChanged()
      this.sink?.ejections_active.set(this.ejectionsActive)
    }
  }
}

function positiveOrOff (threshold: number | null): number {
  return threshold !== null && threshold > 0 ? threshold : 0
}

/** Construct with `new OutlierDetector(config, hostSet, clock?)`; the timer starts at once. */
export interface OutlierDetectorConstructor {
  new (config: OutlierDetectionConfig, hostSet: HostSet, clock?: Clock): OutlierDetector
}

// The interface and the constructor share one name so callers write `new OutlierDetector(...)`
// and type fields as `OutlierDetector`, while NULL_OUTLIER_DETECTOR (a plain object) still fits
// the type: a class with private members would only accept its own instances.
export const OutlierDetector: OutlierDetectorConstructor = OutlierDetectorImpl

/**
 * For clusters without outlierDetection (Envoy `DetectorHostMonitorNullImpl`): every report is a
 * no-op, so the router calls the detector unconditionally and never tests an `enabled` flag.
 */
export const NULL_OUTLIER_DETECTOR: OutlierDetector = Object.freeze({
  putHttpResponseCode (_host: Host, _status: number): void {},
  putLocalOriginFailure (_host: Host, _kind: LocalOriginFailure): void {},
  putLocalOriginSuccess (_host: Host): void {},
  close (): void {},
  ejectionsActive: 0,
  ejectionsEnforcedTotal: 0,
  ejectionsOverflow: 0,
  ejectionsEnforcedConsecutive5xx: 0,
  ejectionsEnforcedConsecutiveGatewayFailure: 0,
  ejectionsEnforcedConsecutiveLocalOriginFailure: 0,
  ejectionsDetectedConsecutive5xx: 0,
  ejectionsDetectedConsecutiveGatewayFailure: 0,
  ejectionsDetectedConsecutiveLocalOriginFailure: 0
})
