import t from 'tap'
import { compileWeights } from '../../../src/routing/weighted-pick'

/** Pick `steps` times with evenly spaced random values in [0, 1): exact, deterministic shares. */
function distribution(weights: number[], steps = 10_000): number[] {
  const picker = compileWeights(weights)
  const counts = weights.map(() => 0)
  for (let i = 0; i < steps; i++) counts[picker.pick(i / steps)]++
  return counts
}

t.test('single destination gets everything, whatever its weight', async t => {
  for (const w of [100, 0, 1, 50]) {
    const p = compileWeights([w])
    t.equal(p.pick(0), 0)
    t.equal(p.pick(0.999999), 0)
    t.same(p.shares, [1], `weight ${w}`)
  }
})

t.test('boundaries', async t => {
  const p = compileWeights([25, 75])
  t.equal(p.pick(0), 0)
  t.equal(p.pick(0.2499999), 0)
  t.equal(p.pick(0.25), 1, 'a boundary belongs to the next destination')
  t.equal(p.pick(0.9999999), 1)
  t.equal(p.pick(1), 1, 'out of range high: last')
  t.equal(p.pick(-0.5), 0, 'out of range low: first')
  t.equal(p.pick(Number.NaN), 0)
})

t.test('weight 0 is never picked', async t => {
  t.same(distribution([0, 100]), [0, 10_000])
  t.same(distribution([100, 0]), [10_000, 0])
  t.same(distribution([50, 0, 50]), [5_000, 0, 5_000])
  t.same(distribution([0, 0, 1]), [0, 0, 10_000])
  const p = compileWeights([0, 30, 0, 70])
  for (const r of [0, 0.1, 0.3, 0.5, 0.99]) t.not(p.pick(r) % 2, 0, `r=${r} picks a non-zero entry`)
  t.same(p.shares, [0, 0.3, 0, 0.7])
})

t.test('sums other than 100', async t => {
  t.same(distribution([1, 1]), [5_000, 5_000])
  t.same(distribution([1, 3]), [2_500, 7_500])
  t.same(distribution([10, 20, 30, 40]), [1_000, 2_000, 3_000, 4_000]) // 100
  t.same(distribution([200, 600, 200]), [2_000, 6_000, 2_000]) // 1000
  t.same(distribution([7, 13]), [3_500, 6_500]) // 20
})

t.test('many destinations (binary search path)', async t => {
  const weights = Array.from({ length: 20 }, (_, i) => (i % 3 === 0 ? 0 : i))
  const sum = weights.reduce((a, b) => a + b, 0)
  const counts = distribution(weights, sum * 100)
  t.same(counts, weights.map(w => w * 100))
})

t.test('invalid weights are refused at construction', async t => {
  t.throws(() => compileWeights([]), RangeError)
  t.throws(() => compileWeights([0, 0]), RangeError)
  t.throws(() => compileWeights([-1, 101]), RangeError)
  t.throws(() => compileWeights([Number.NaN, 1]), RangeError)
})
