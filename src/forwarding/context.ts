// What a request needs from the process (ProxyContext) and from the listener that accepted it
// (ListenerContext). Built once; requests only read them.

import type { IncomingMessage } from 'node:http'
import type { Snapshot, RouteTable } from '../model/snapshot'
import type { Cluster } from '../upstream/cluster'
import type { RequestView } from '../routing/http-match'
import type { StatsStore, HttpConnManagerStats, IstioRequestRecorder, ListenerStats } from '../observability/stats'
import type { RequestTracing } from '../observability/tracing'
import type { AccessLog } from '../observability/access-log'

export interface Clock {
  /** Monotonic milliseconds. */
  now (): number
  setTimeout (fn: () => void, ms: number): NodeJS.Timeout
  clearTimeout (t: NodeJS.Timeout): void
}

export const SYSTEM_CLOCK: Clock = {
  now: () => performance.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (t) => clearTimeout(t)
}

export interface SnapshotHolder {
  current: Snapshot
}

export interface ProxyContext {
  readonly snapshots: SnapshotHolder
  readonly stats: StatsStore
  readonly tracing: RequestTracing
  readonly accessLog: AccessLog | null
  readonly random: () => number
  readonly clock: Clock
  /** Envoy node id (`sidecar~<ip>~<pod>.<ns>~<ns>.svc.cluster.local`), for spans and /server_info. */
  readonly nodeId: string
  /**
   * Istio metadata exchange: this workload's identity as an `x-envoy-peer-metadata` value,
   * sent on outbound requests so the callee's proxy can label its metrics; null at a gateway.
   */
  readonly peerMetadata: string | null
  /** Set when shutdown starts: responses then carry `connection: close`. */
  readonly lifecycle: { draining: boolean }
}

export type ListenerKind = 'gateway' | 'outbound' | 'inbound'

/** Where the client meant to connect: the original destination, or what an explicit-proxy request names. */
export interface ConnectionTarget {
  readonly address: string
  readonly port: number
}

export interface ListenerContext {
  readonly proxy: ProxyContext
  readonly kind: ListenerKind
  /** Envoy listener name, e.g. `0.0.0.0_8080`. */
  readonly name: string
  readonly port: number
  readonly hcm: HttpConnManagerStats
  /** `listener.<address>.*`: counted where the socket is accepted. */
  readonly listener: ListenerStats
  /** The route table this listener serves from a snapshot, or null when it has none. */
  routeTable (snapshot: Snapshot, port: number): RouteTable | null
  /**
   * The destination the client meant (sidecar listeners), or null at a gateway. Its port picks
   * the route table; a request that no virtual host claims is passed through to it.
   */
  target (req: IncomingMessage, view: RequestView): ConnectionTarget | null
  /** Whether a request no virtual host claims goes to its target (ALLOW_ANY) or gets 502 (REGISTRY_ONLY); 'none' at a gateway. */
  readonly unmatched: 'passthrough' | 'reject' | 'none'
  /** A cluster by name: the snapshot's, or one made on demand (PassthroughCluster, inbound clusters). */
  cluster (snapshot: Snapshot, name: string): Cluster | null
  /** Istio standard metrics recorder for a destination cluster, or null when metrics are off. */
  istioRecorder (clusterName: string, snapshot: Snapshot, req: IncomingMessage): IstioRequestRecorder | null
}
