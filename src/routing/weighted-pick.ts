// Istio route weights -> Envoy weighted_clusters. Istio (route.go) sends a single destination as a
// plain cluster whatever its weight, and with several it drops weight-0 destinations and keeps the
// rest with their weights as given (total_weight = their sum, which need not be 100). Envoy then
// picks with one random number (pickWeightedCluster(headers, random_value)); the caller passes it,
// so tests and the load generator are deterministic.

export interface WeightedPicker {
  /** Index into the original `weights` array. `random01` in [0, 1); values outside are clamped. */
  pick(random01: number): number
  /** Each destination's share in [0, 1], in input order (0 for dropped ones). For stats/explain. */
  readonly shares: readonly number[]
}

/**
 * Validation rejects negative weights, non-integers, and several destinations all weighted 0;
 * the constructor still refuses them so a bad snapshot cannot be built.
 */
export function compileWeights(weights: readonly number[]): WeightedPicker {
  if (weights.length === 0) throw new RangeError('compileWeights: no destinations')
  for (const w of weights) {
    if (!Number.isFinite(w) || w < 0) throw new RangeError(`compileWeights: invalid weight ${w}`)
  }
  if (weights.length === 1) return new SinglePicker()
  const indices: number[] = []
  const cumulative: number[] = []
  let sum = 0
  for (let i = 0; i < weights.length; i++) {
    if (weights[i] === 0) continue
    sum += weights[i]
    indices.push(i)
    cumulative.push(sum)
  }
  if (sum === 0) throw new RangeError('compileWeights: every destination has weight 0')
  const shares = weights.map(w => w / sum)
  if (indices.length === 1) return new SinglePicker(indices[0], shares)
  return new CumulativePicker(indices, cumulative, sum, shares)
}

class SinglePicker implements WeightedPicker {
  constructor(
    private readonly index = 0,
    readonly shares: readonly number[] = [1],
  ) {}
  pick(_random01: number): number {
    return this.index
  }
}

/**
 * Destination i owns [cumulative[i-1], cumulative[i]) of [0, sum): r = random01 * sum falls in
 * exactly one slot, so each gets weight/sum. Linear scan for the usual 2-4 destinations (fewer
 * branches than a binary search), binary search past 8.
 */
class CumulativePicker implements WeightedPicker {
  constructor(
    private readonly indices: readonly number[],
    private readonly cumulative: readonly number[],
    private readonly sum: number,
    readonly shares: readonly number[],
  ) {}

  pick(random01: number): number {
    const c = this.cumulative
    const last = c.length - 1
    const r = random01 * this.sum
    if (!(r >= 0)) return this.indices[0] // negative or NaN
    if (last < 8) {
      for (let i = 0; i < last; i++) if (r < c[i]) return this.indices[i]
      return this.indices[last] // r >= sum (random01 >= 1) lands on the last
    }
    let lo = 0
    let hi = last
    while (lo < hi) {
      const mid = (lo + hi) >>> 1
      if (r < c[mid]) hi = mid
      else lo = mid + 1
    }
    return this.indices[lo]
  }
}
