// Envoy's PassthroughCluster: an ORIGINAL_DST cluster that sends a request where the client was
// already sending it. Used by sidecar listeners under ALLOW_ANY for destinations the registry
// does not know, and by inbound listeners to reach the local application.

import type { RouteEntry } from '../model/snapshot'
import type { ClusterSpec } from '../model/snapshot'
import { singleDestinationRoute } from '../model/single-route'
import { connectionLimits } from '../model/traffic-policy'
import type { ConnectionTarget } from './context'

export const PASSTHROUGH_CLUSTER = 'PassthroughCluster'

const passthroughRoutes = new Map<number, RouteEntry>()

/** The allow_any route for one destination port (cached: only the port appears in it). */
export function passthroughRoute (target: ConnectionTarget): RouteEntry {
  let r = passthroughRoutes.get(target.port)
  if (r === undefined) {
    r = singleDestinationRoute('allow_any', PASSTHROUGH_CLUSTER, PASSTHROUGH_CLUSTER, target.port, '')
    passthroughRoutes.set(target.port, r)
  }
  return r
}

export function inboundClusterName (port: number): string {
  return `inbound|${port}||`
}

/** The inbound route for an application port: everything goes to the local app. */
export function inboundRoute (port: number): RouteEntry {
  return singleDestinationRoute('default', inboundClusterName(port), 'inbound', port, '')
}

export function passthroughClusterSpec (name: string, port: number, localAddress: string | null): ClusterSpec {
  return {
    name,
    serviceHost: name,
    serviceNamespace: '',
    port,
    subset: '',
    protocol: 'UNKNOWN',
    endpoints: localAddress === null ? [] : [{ address: localAddress, port, labels: {}, weight: 1, locality: '', workloadName: null, namespace: '' }],
    lb: localAddress === null ? { kind: 'PASSTHROUGH' } : { kind: 'ROUND_ROBIN' },
    hashKey: null,
    limits: connectionLimits(undefined),
    outlier: null
  }
}
