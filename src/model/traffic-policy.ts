// DestinationRule traffic policy for one cluster (service port + subset), resolved the way
// Istio does: the rule-level policy, then portLevelSettings for the port replace whole field
// groups, then the subset's own policy (with its port-level settings) replaces field groups again.

import type {
  ConnectionPoolSettings, ConsistentHashLB, DestinationRuleResource, LoadBalancerSettings, OutlierDetection, TrafficPolicy
} from '../config/types'
import { parseDuration } from '../config/duration'
import type { OutlierDetectionConfig } from '../upstream/outlier-detector'
import { fqdn } from '../routing/host-names'
import { hostMatchesPattern } from '../routing/virtual-host-table'

export interface ResolvedPolicy {
  loadBalancer: LoadBalancerSettings | undefined
  connectionPool: ConnectionPoolSettings | undefined
  outlierDetection: OutlierDetection | undefined
}

export type HashKeySource =
  | { kind: 'header', name: string }
  | { kind: 'cookie', name: string }
  | { kind: 'sourceIp' }
  | { kind: 'query', name: string }

export type LbSpec =
  | { kind: 'LEAST_REQUEST' } | { kind: 'ROUND_ROBIN' } | { kind: 'RANDOM' } | { kind: 'PASSTHROUGH' }
  | { kind: 'RING_HASH', minimumRingSize: number } | { kind: 'MAGLEV', tableSize: number }

export interface ConnectionLimits {
  maxConnections: number
  maxPendingRequests: number
  maxRequests: number
  maxRetries: number
  /** 0: unlimited. 1 disables keep-alive. */
  maxRequestsPerConnection: number
  connectTimeoutMs: number
  /** Idle time after which an upstream connection is closed (Istio http.idleTimeout, default 1 h); 0: disabled. */
  idleTimeoutMs: number
  /** 0: no limit. */
  maxConnectionDurationMs: number
  tcpKeepalive: { timeMs: number, intervalMs: number, probes: number } | null
}

/** The outlier detector's config is exactly what a cluster spec carries. */
export type OutlierSpec = OutlierDetectionConfig

const UNLIMITED = Number.POSITIVE_INFINITY

/** The DestinationRule that applies to a service host: exact host first, then the most specific wildcard. */
export function findDestinationRule (rules: readonly DestinationRuleResource[], serviceHost: string): DestinationRuleResource | null {
  let best: DestinationRuleResource | null = null
  let bestLen = -1
  for (const dr of rules) {
    const host = fqdn(dr.spec.host ?? '', dr.metadata.namespace ?? 'default')
    if (host === serviceHost) return dr
    if (host.startsWith('*') && hostMatchesPattern(serviceHost, host) && host.length > bestLen) {
      best = dr
      bestLen = host.length
    }
  }
  return best
}

function overlay (base: ResolvedPolicy, tp: TrafficPolicy | undefined, port: number): ResolvedPolicy {
  if (tp === undefined) return base
  let out: ResolvedPolicy = {
    loadBalancer: tp.loadBalancer ?? base.loadBalancer,
    connectionPool: tp.connectionPool ?? base.connectionPool,
    outlierDetection: tp.outlierDetection ?? base.outlierDetection
  }
  const pl = tp.portLevelSettings?.find(s => s.port?.number === port)
  if (pl !== undefined) {
    out = {
      loadBalancer: pl.loadBalancer ?? out.loadBalancer,
      connectionPool: pl.connectionPool ?? out.connectionPool,
      outlierDetection: pl.outlierDetection ?? out.outlierDetection
    }
  }
  return out
}

export function resolvePolicy (dr: DestinationRuleResource | null, port: number, subset: string): ResolvedPolicy {
  const empty: ResolvedPolicy = { loadBalancer: undefined, connectionPool: undefined, outlierDetection: undefined }
  if (dr === null) return empty
  let p = overlay(empty, dr.spec.trafficPolicy, port)
  if (subset !== '') {
    const s = dr.spec.subsets?.find(x => x.name === subset)
    p = overlay(p, s?.trafficPolicy, port)
  }
  return p
}

export function lbSpec (lb: LoadBalancerSettings | undefined): LbSpec {
  if (lb?.consistentHash !== undefined) {
    const ch = lb.consistentHash
    if (ch.maglev !== undefined) return { kind: 'MAGLEV', tableSize: ch.maglev.tableSize ?? 65537 }
    return { kind: 'RING_HASH', minimumRingSize: ch.ringHash?.minimumRingSize ?? ch.minimumRingSize ?? 1024 }
  }
  switch (lb?.simple) {
    case 'ROUND_ROBIN': return { kind: 'ROUND_ROBIN' }
    case 'RANDOM': return { kind: 'RANDOM' }
    case 'PASSTHROUGH': return { kind: 'PASSTHROUGH' }
    default: return { kind: 'LEAST_REQUEST' } // UNSPECIFIED, LEAST_CONN (deprecated alias), LEAST_REQUEST
  }
}

export function hashKeySource (ch: ConsistentHashLB | undefined): HashKeySource | null {
  if (ch === undefined) return null
  if (ch.httpHeaderName !== undefined) return { kind: 'header', name: ch.httpHeaderName.toLowerCase() }
  if (ch.httpCookie !== undefined) return { kind: 'cookie', name: ch.httpCookie.name }
  if (ch.useSourceIp === true) return { kind: 'sourceIp' }
  if (ch.httpQueryParameterName !== undefined) return { kind: 'query', name: ch.httpQueryParameterName }
  return null
}

const limit = (v: number | undefined): number => (v === undefined || v <= 0 ? UNLIMITED : v)

export function connectionLimits (cp: ConnectionPoolSettings | undefined): ConnectionLimits {
  const ka = cp?.tcp?.tcpKeepalive
  return {
    maxConnections: limit(cp?.tcp?.maxConnections),
    maxPendingRequests: limit(cp?.http?.http1MaxPendingRequests),
    maxRequests: limit(cp?.http?.http2MaxRequests),
    maxRetries: limit(cp?.http?.maxRetries),
    maxRequestsPerConnection: cp?.http?.maxRequestsPerConnection ?? 0,
    connectTimeoutMs: parseDuration(cp?.tcp?.connectTimeout) ?? 10_000,
    idleTimeoutMs: parseDuration(cp?.http?.idleTimeout ?? cp?.tcp?.idleTimeout) ?? 3_600_000,
    maxConnectionDurationMs: parseDuration(cp?.tcp?.maxConnectionDuration) ?? 0,
    tcpKeepalive: ka === undefined
      ? null
      : { timeMs: parseDuration(ka.time) ?? 7_200_000, intervalMs: parseDuration(ka.interval) ?? 75_000, probes: ka.probes ?? 9 }
  }
}

export function outlierSpec (od: OutlierDetection | undefined): OutlierSpec | null {
  if (od === undefined) return null
  // Istio leaves Envoy's consecutive_5xx default (5) in place when the field is unset, even if
  // consecutiveGatewayErrors is set; an explicit 0 turns it off (consecutiveErrors is the
  // deprecated name). Zero in maxEjectionPercent and consecutiveLocalOriginFailures means
  // "unset" to Istio (proto3 zero values), so Envoy's defaults apply.
  const c5 = od.consecutive5xxErrors ?? od.consecutiveErrors
  return {
    consecutive5xx: c5 === undefined ? 5 : (c5 > 0 ? c5 : null),
    consecutiveGatewayErrors: od.consecutiveGatewayErrors !== undefined && od.consecutiveGatewayErrors > 0 ? od.consecutiveGatewayErrors : null,
    consecutiveLocalOriginFailures: od.splitExternalLocalOriginErrors === true
      ? (od.consecutiveLocalOriginFailures !== undefined && od.consecutiveLocalOriginFailures > 0 ? od.consecutiveLocalOriginFailures : 5)
      : null,
    splitExternalLocalOriginErrors: od.splitExternalLocalOriginErrors === true,
    intervalMs: parseDuration(od.interval) ?? 10_000,
    baseEjectionTimeMs: parseDuration(od.baseEjectionTime) ?? 30_000,
    maxEjectionPercent: od.maxEjectionPercent !== undefined && od.maxEjectionPercent > 0 ? od.maxEjectionPercent : 10,
    minHealthPercent: od.minHealthPercent ?? 0
  }
}
