// Load balancers: one file per policy, all behind `LoadBalancer.chooseHost`. A balancer is built
// once per cluster and host set; it rebuilds its internal schedule / ring / table by itself
// when the HostSet's version moves (membership change or outlier ejection), never per request.
// Mapping Istio's DestinationRule to an LbPolicy is the model's job (src/model/traffic-policy.ts).

import type { HostSet } from '../host-set'
import { LeastRequestLoadBalancer } from './least-request'
import { MaglevLoadBalancer } from './maglev'
import { PassthroughLoadBalancer } from './passthrough'
import { RandomLoadBalancer } from './random'
import { RingHashLoadBalancer } from './ring-hash'
import { RoundRobinLoadBalancer } from './round-robin'
import type { LbPolicy, LoadBalancer, Random } from './types'

export type { LbContext, LbPolicy, LoadBalancer, OriginalDestination, Random } from './types'
export { HOST_SELECTION_RETRY_MAX_ATTEMPTS, HostSetLoadBalancer } from './base'
export { LEAST_REQUEST_CHOICE_COUNT, LeastRequestLoadBalancer } from './least-request'
export { DEFAULT_MAGLEV_TABLE_SIZE, MaglevLoadBalancer, isPrime } from './maglev'
export { PASSTHROUGH_HOST_CACHE_LIMIT, PassthroughLoadBalancer } from './passthrough'
export { RandomLoadBalancer } from './random'
export { DEFAULT_MAXIMUM_RING_SIZE, DEFAULT_MINIMUM_RING_SIZE, RingHashLoadBalancer } from './ring-hash'
export { RoundRobinLoadBalancer } from './round-robin'
export { xxHash32 } from './hash'

export function createLoadBalancer (policy: LbPolicy, hostSet: HostSet, random: Random): LoadBalancer {
  switch (policy.kind) {
    case 'LEAST_REQUEST': return new LeastRequestLoadBalancer(hostSet, random)
    case 'ROUND_ROBIN': return new RoundRobinLoadBalancer(hostSet, random)
    case 'RANDOM': return new RandomLoadBalancer(hostSet, random)
    case 'PASSTHROUGH': return new PassthroughLoadBalancer()
    case 'RING_HASH': return new RingHashLoadBalancer(hostSet, random, policy.minimumRingSize)
    case 'MAGLEV': return new MaglevLoadBalancer(hostSet, random, policy.tableSize)
  }
}

