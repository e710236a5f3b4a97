// A route with no VirtualService behind it: every request to one cluster, Istio's defaults for
// the rest (no timeout, the default retry policy). The compiler gives one to each service port no
// VirtualService routes; sidecar listeners use one for PassthroughCluster.

import type { RouteEntry } from './snapshot'
import { compileWeights } from '../routing/weighted-pick'
import { RetryPolicy } from '../forwarding/retry-policy'

const SINGLE = compileWeights([100])
const DEFAULT_RETRY = RetryPolicy.compile(undefined)

export function singleDestinationRoute (name: string, clusterName: string, host: string, port: number, operation: string): RouteEntry {
  return {
    name,
    virtualService: '',
    match: null,
    action: { kind: 'route', destinations: [{ clusterName, host, subset: '', port, headers: null }], picker: SINGLE },
    uriRewrite: null,
    authorityRewrite: null,
    headers: null,
    cors: null,
    fault: null,
    timeoutMs: 0,
    retry: DEFAULT_RETRY,
    mirrors: null,
    operation
  }
}
