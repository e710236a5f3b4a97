// PASSTHROUGH (Istio) = Envoy ORIGINAL_DST cluster with the CLUSTER_PROVIDED balancer: no
// balancing at all, the request goes where the client was already sending it. The host set
// of such a cluster is not known in advance, so hosts are made on first use and cached so that
// their in-flight counts and connection pools are shared between requests.

import { Host } from '../host'
import type { LbContext, LoadBalancer } from './types'

/**
 * Envoy sweeps unused original-destination hosts every `cleanup_interval` (5 s). Ferry sweeps
 * lazily instead, when the cache grows past this many hosts, dropping those with nothing in
 * flight: no timer, and memory stays bounded.
 */
export const PASSTHROUGH_HOST_CACHE_LIMIT = 1024

export class PassthroughLoadBalancer implements LoadBalancer {
  /** address → port → host. Two levels so a lookup needs no `address:port` string per request. */
  private readonly byAddress: Map<string, Map<number, Host>>
  private cached: number

  constructor () {
    this.byAddress = new Map()
    this.cached = 0
  }

  /** Hosts currently cached (for /clusters and tests). */
  get size (): number {
    return this.cached
  }

  chooseHost (ctx: LbContext): Host | null {
    const dst = ctx.originalDst
    // No original destination (not an intercepted connection): nothing to forward to, 503 UH.
    if (dst === undefined || dst === null) return null
    const known = this.byAddress.get(dst.address)
    const found = known === undefined ? undefined : known.get(dst.port)
    if (found !== undefined) return found
    // Sweep before inserting so the sweep cannot drop the map the new host goes into.
    if (this.cached >= PASSTHROUGH_HOST_CACHE_LIMIT) this.sweep()
    let byPort = this.byAddress.get(dst.address)
    if (byPort === undefined) {
      byPort = new Map()
      this.byAddress.set(dst.address, byPort)
    }
    const host = new Host(dst.address, dst.port)
    byPort.set(dst.port, host)
    this.cached++
    // One possible destination: `attempted` cannot steer anywhere else, and original-destination
    // hosts are never ejected in Envoy either.
    return host
  }

  private sweep (): void {
    for (const [address, byPort] of this.byAddress) {
      for (const [port, host] of byPort) {
        if (host.activeRequests === 0) {
          byPort.delete(port)
          this.cached--
        }
      }
      if (byPort.size === 0) this.byAddress.delete(address)
    }
  }
}
