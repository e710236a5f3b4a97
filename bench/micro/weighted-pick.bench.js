'use strict'
// Micro benchmark for src/routing/weighted-pick: choosing a VirtualService route destination by
// weight, as ActiveRequest.forward() does (`destinations[picker.pick(random())]`), including the
// random draw, for the canary shapes people write (100, 90/10, 3-way) and large splits.
//   npx tsc -p . && node bench/micro/weighted-pick.bench.js
const { dist, bench, header } = require('./harness')
const { compileWeights } = dist('routing/weighted-pick')

console.log(`node ${process.version}, ${require('node:os').cpus()[0].model}`)
const SHAPES = [
  ['single destination (100)', [100]],
  ['canary 90/10', [90, 10]],
  ['three-way 50/30/20', [50, 30, 20]],
  ['8 destinations', [20, 20, 10, 10, 10, 10, 10, 10]],
  ['32 destinations (1..32)', Array.from({ length: 32 }, (_, i) => i + 1)],
  ['100 destinations (1 each)', Array.from({ length: 100 }, () => 1)]
]
header('picker.pick(u) with a precomputed u (the pick alone)')
const U = Float64Array.from({ length: 4096 }, () => Math.random())
for (const [name, weights] of SHAPES) {
  const picker = compileWeights(weights)
  bench(name, i => picker.pick(U[i & 4095]))
}
header('destinations[picker.pick(Math.random())] (as the request path does)')
for (const [name, weights] of SHAPES) {
  const picker = compileWeights(weights)
  const destinations = weights.map((w, i) => ({ clusterName: `outbound|9080|v${i}|reviews.default.svc.cluster.local`, weight: w }))
  bench(name, () => destinations[picker.pick(Math.random())].weight)
}
