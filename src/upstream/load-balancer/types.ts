// Shared load-balancer types. Kept apart from index.ts so policy files can import them without
// an import cycle through createLoadBalancer.

import type { Host } from '../host'

/** A source of uniform random numbers in [0, 1), injected so tests can seed it. */
export type Random = () => number

/** Where the downstream connection was originally headed (SO_ORIGINAL_DST); PASSTHROUGH only. */
export interface OriginalDestination {
  readonly address: string
  readonly port: number
}

export interface LbContext {
  /** Consistent-hash input computed by the caller from the DestinationRule hash policy; null if none. */
  hashKey: string | null
  /**
   * Hosts tried by earlier attempts of the same request. The balancer prefers others, as Envoy's
   * `previous_hosts` retry host predicate, which Istio always installs for retries.
   */
  attempted: ReadonlySet<Host> | null
  /** PASSTHROUGH clusters forward to this address; other policies ignore it. */
  originalDst?: OriginalDestination | null
}

export interface LoadBalancer {
  /** The host for this attempt, or null when the cluster has none to offer (503 `UH`). */
  chooseHost (ctx: LbContext): Host | null
}

export type LbPolicy =
  | { kind: 'LEAST_REQUEST' }
  | { kind: 'ROUND_ROBIN' }
  | { kind: 'RANDOM' }
  | { kind: 'PASSTHROUGH' }
  | { kind: 'RING_HASH', minimumRingSize: number }
  | { kind: 'MAGLEV', tableSize: number }
