'use strict'
// Micro benchmark for src/upstream/load-balancer: one chooseHost() per request, for every policy
// Istio can configure, on small and large clusters, equal and unequal weights, with and without
// a retry's "previously attempted hosts" set.
//   npx tsc -p . && node bench/micro/load-balancer.bench.js
const { dist, bench, header } = require('./harness')
const { createLoadBalancer } = dist('upstream/load-balancer')
const { Host } = dist('upstream/host')
const { HostSet } = dist('upstream/host-set')

function hostSet (n, weighted) {
  const hosts = []
  for (let i = 0; i < n; i++) hosts.push(new Host(`10.0.${i >> 8}.${i & 255}`, 8080, {}, weighted ? 1 + (i % 5) : 1))
  return new HostSet(hosts)
}

const POLICIES = [
  { kind: 'ROUND_ROBIN' },
  { kind: 'LEAST_REQUEST' },
  { kind: 'RANDOM' },
  { kind: 'RING_HASH', minimumRingSize: 1024 },
  { kind: 'MAGLEV', tableSize: 65537 }
]

// A fixed key list, so consistent-hash policies hash a different key each call as they would.
const KEYS = Array.from({ length: 1024 }, (_, i) => `user-${i * 7919}`)

console.log(`node ${process.version}, ${require('node:os').cpus()[0].model}`)
for (const [n, weighted] of [[1, false], [3, false], [3, true], [100, false], [100, true]]) {
  header(`${n} host${n === 1 ? '' : 's'}${weighted ? ', weights 1..5' : ', equal weights'}`)
  for (const policy of POLICIES) {
    const lb = createLoadBalancer(policy, hostSet(n, weighted), Math.random)
    const hashed = policy.kind === 'RING_HASH' || policy.kind === 'MAGLEV'
    const ctx = { hashKey: null, attempted: null, originalDst: null }
    bench(`${policy.kind}${hashed ? ' (hash key per call)' : ''}`, i => {
      if (hashed) ctx.hashKey = KEYS[i & 1023]
      return lb.chooseHost(ctx) !== null
    })
  }
}

header('retry re-pick: 3 equal hosts, 1 already attempted (Istio previous_hosts predicate)')
for (const policy of POLICIES.slice(0, 3)) {
  const set = hostSet(3, false)
  const lb = createLoadBalancer(policy, set, Math.random)
  const ctx = { hashKey: null, attempted: new Set([set.hosts[0]]), originalDst: null }
  bench(policy.kind, () => lb.chooseHost(ctx) !== set.hosts[0])
}
