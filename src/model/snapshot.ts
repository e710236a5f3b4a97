// The compiled, immutable form of one configuration. A request captures the snapshot current
// when it starts and keeps it to the end, so a reload never changes a request mid-flight
// (style habit 1). Runtime state that must outlive reloads (connection pools, outlier
// ejections, stats) lives in the ClusterManager, which hands the snapshot the same Cluster
// objects for clusters whose spec did not change.

import type { ConfigSet, Diagnostic } from '../config/types'
import type { HttpMatch } from '../routing/http-match'
import type { VirtualHostTable } from '../routing/virtual-host-table'
import type { WeightedPicker } from '../routing/weighted-pick'
import type { FullMatchRegex } from '../routing/regex'
import type { CompiledHeaders } from '../filters/header-mutation'
import type { CorsConfig } from '../filters/cors'
import type { FaultConfig } from '../filters/fault'
import type { RetryPolicy } from '../forwarding/retry-policy'
import type { ServiceRegistry, Protocol } from '../registry/service-registry'
import type { ConnectionLimits, HashKeySource, LbSpec, OutlierSpec } from './traffic-policy'
import type { Cluster } from '../upstream/cluster'

export interface WeightedDestination {
  /** Envoy cluster name `outbound|<port>|<subset>|<fqdn>`. */
  readonly clusterName: string
  readonly host: string
  readonly subset: string
  readonly port: number
  readonly headers: CompiledHeaders | null
}

export interface RedirectConfig {
  readonly uri: string | null
  readonly authority: string | null
  readonly scheme: string | null
  /** null: keep the request's port; 0: the scheme's default (derivePort FROM_PROTOCOL_DEFAULT). */
  readonly port: number | null
  readonly code: number
}

export type RouteAction =
  | { readonly kind: 'route', readonly destinations: readonly WeightedDestination[], readonly picker: WeightedPicker }
  | { readonly kind: 'redirect', readonly redirect: RedirectConfig }
  | { readonly kind: 'direct', readonly status: number, readonly body: Buffer }

/** Where a TCP connection to a service port goes (VirtualService `tcp` routes, weighted). */
export interface TcpRouteAction {
  readonly clusterNames: readonly string[]
  readonly picker: WeightedPicker
}

/** How `rewrite.uri` applies: it replaces what the route's uri match matched. */
export type UriRewrite =
  | { readonly kind: 'prefix', readonly matchedPrefix: string, readonly replacement: string }
  | { readonly kind: 'full', readonly replacement: string }
  | { readonly kind: 'regex', readonly pattern: FullMatchRegex, readonly substitution: string }

export interface MirrorTarget {
  readonly clusterName: string
  readonly percent: number
}

/** One Envoy route: Istio emits one per HTTPRoute match block, which is what we do too. */
export interface RouteEntry {
  /** The HTTPRoute's name, or '' (Envoy %ROUTE_NAME%). */
  readonly name: string
  /** `namespace/name` of the VirtualService it came from. */
  readonly virtualService: string
  readonly match: HttpMatch | null
  readonly action: RouteAction
  readonly uriRewrite: UriRewrite | null
  readonly authorityRewrite: string | null
  readonly headers: CompiledHeaders | null
  readonly cors: CorsConfig | null
  readonly fault: FaultConfig | null
  /** 0: no route timeout (Istio disables Envoy's 15 s default). */
  readonly timeoutMs: number
  readonly retry: RetryPolicy
  readonly mirrors: readonly MirrorTarget[] | null
  /**
   * The span name (Envoy's route decorator), as Istio's getRouteOperation builds it:
   * `<destination host>:<port><path>` with one destination, `<VirtualService name>:<port><path>`
   * with several; '' keeps the name the span started with.
   */
  readonly operation: string
}

export interface VirtualHost {
  readonly name: string
  readonly domains: readonly string[]
  readonly routes: readonly RouteEntry[]
}

export interface RouteTable {
  readonly name: string
  readonly virtualHosts: readonly VirtualHost[]
  readonly table: VirtualHostTable<VirtualHost>
}

export interface HttpListenerSpec {
  /** Envoy-style listener name, e.g. `0.0.0.0_8080`. */
  readonly name: string
  readonly address: string
  readonly port: number
  readonly routeTable: RouteTable
  /** `ns/name` of the Gateways whose servers share this port. */
  readonly gateways: readonly string[]
}

export interface EndpointSpec {
  readonly address: string
  readonly port: number
  readonly labels: Readonly<Record<string, string>>
  readonly weight: number
  readonly locality: string
  readonly workloadName: string | null
  readonly namespace: string
}

export interface ClusterSpec {
  readonly name: string
  readonly serviceHost: string
  readonly serviceNamespace: string
  readonly port: number
  readonly subset: string
  readonly protocol: Protocol
  readonly endpoints: readonly EndpointSpec[]
  readonly lb: LbSpec
  readonly hashKey: HashKeySource | null
  readonly limits: ConnectionLimits
  readonly outlier: OutlierSpec | null
}

export interface Snapshot {
  readonly version: number
  readonly createdAt: Date
  readonly config: ConfigSet
  readonly diagnostics: readonly Diagnostic[]
  readonly registry: ServiceRegistry
  /** Gateway role: one HTTP listener per Gateway server port. */
  readonly gatewayListeners: readonly HttpListenerSpec[]
  /** Sidecar role: outbound route tables by port (`"9080"`), VirtualServices bound to `mesh`. */
  readonly meshRouteTables: ReadonlyMap<number, RouteTable>
  /** Sidecar role: VirtualService `tcp` routes by `<fqdn>:<port>`, for TCP services. */
  readonly meshTcpRoutes: ReadonlyMap<string, TcpRouteAction>
  readonly clusterSpecs: ReadonlyMap<string, ClusterSpec>
  /** Runtime clusters, filled in by the ClusterManager when the snapshot is installed. */
  readonly clusters: ReadonlyMap<string, Cluster>
}
