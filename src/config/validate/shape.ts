// A small structural schema, standing in for the OpenAPI schema of Istio's CRDs: which fields
// exist, their JSON types, enums, integer ranges and the `duration >= 1ms` rule every duration
// carries. One walk reports unknown fields (a strict decoder rejects them: `discovery` in an old
// ServiceEntry) and type errors, so the per-kind rules only deal with meaning.
import { parseDuration } from '../duration'
import { child, item } from './path'
import { invalid, type Report } from './report'
import { isObj } from './values'

export type Shape =
  | { readonly t: 'string' }
  | { readonly t: 'bool' }
  | { readonly t: 'number' }
  | { readonly t: 'int', readonly min: number, readonly max: number }
  | { readonly t: 'enum', readonly values: readonly string[] }
  | { readonly t: 'duration', readonly minMs: number }
  | { readonly t: 'object', readonly fields: Readonly<Record<string, Shape>>, readonly open?: boolean }
  | { readonly t: 'list', readonly of: Shape }
  | { readonly t: 'map', readonly of: Shape }

const INT32_MIN = -2147483648
const INT32_MAX = 2147483647
const UINT32_MAX = 4294967295

export const S = {
  string: { t: 'string' } as Shape,
  bool: { t: 'bool' } as Shape,
  number: { t: 'number' } as Shape,
  int32: { t: 'int', min: INT32_MIN, max: INT32_MAX } as Shape,
  uint32: { t: 'int', min: 0, max: UINT32_MAX } as Shape,
  /** google.protobuf.Duration with the CRD rule `duration(self) >= duration('1ms')`. */
  duration: { t: 'duration', minMs: 1 } as Shape,
  /** Durations marked `duration-validation:none` in istio/api (a cookie TTL may be 0s). */
  anyDuration: { t: 'duration', minMs: 0 } as Shape,
  enum: (...values: string[]): Shape => ({ t: 'enum', values }),
  obj: (fields: Record<string, Shape>): Shape => ({ t: 'object', fields }),
  list: (of: Shape): Shape => ({ t: 'list', of }),
  map: (of: Shape): Shape => ({ t: 'map', of })
}

/**
 * Reports unknown fields and type errors under `path`. `null` counts as absent, as in
 * Kubernetes. Returns false when a value has the wrong type (unknown fields alone return true:
 * they are reported but cannot confuse the rules that read the known ones).
 */
export function checkShape (value: unknown, shape: Shape, path: string, report: Report): boolean {
  if (value === null || value === undefined) return true
  const wrong = (why: string): boolean => {
    report.error(path, invalid(value, why))
    return false
  }
  switch (shape.t) {
    case 'string':
      return typeof value === 'string' || wrong('must be of type string')
    case 'bool':
      return typeof value === 'boolean' || wrong('must be of type boolean')
    case 'number':
      return (typeof value === 'number' && Number.isFinite(value)) || wrong('must be of type number')
    case 'int':
      if (typeof value !== 'number' || !Number.isInteger(value)) return wrong('must be of type integer')
      return (value >= shape.min && value <= shape.max) || wrong(`must be between ${shape.min} and ${shape.max}`)
    case 'enum':
      if (typeof value === 'string' && shape.values.includes(value)) return true
      report.error(path, `Unsupported value: ${JSON.stringify(value)}: supported values: ${shape.values.map(v => `"${v}"`).join(', ')}`)
      return false
    case 'duration':
      return checkDuration(value, shape.minMs, path, report)
    case 'list': {
      if (!Array.isArray(value)) return wrong('must be of type array')
      let ok = true
      value.forEach((v, i) => { ok = checkShape(v, shape.of, item(path, i), report) && ok })
      return ok
    }
    case 'map': {
      if (!isObj(value)) return wrong('must be of type object')
      let ok = true
      for (const [k, v] of Object.entries(value)) ok = checkShape(v, shape.of, child(path, k), report) && ok
      return ok
    }
    case 'object': {
      if (!isObj(value)) return wrong('must be of type object')
      let ok = true
      for (const [k, v] of Object.entries(value)) {
        const f = shape.fields[k]
        if (f !== undefined) ok = checkShape(v, f, child(path, k), report) && ok
        else if (shape.open !== true) report.error(child(path, k), `unknown field "${k}"`)
      }
      return ok
    }
  }
}

// A duration that parses but breaks a range rule is still well-typed: the result is only false
// when the value is not a duration at all.
function checkDuration (value: unknown, minMs: number, path: string, report: Report): boolean {
  const ms = parseDuration(value)
  if (ms === null) {
    report.error(path, invalid(value, 'must be a valid duration (e.g. "1s", "250ms", "1h30m")'))
    return false
  }
  if (ms < minMs) report.error(path, invalid(value, 'must be a valid duration greater than 1ms'))
  // Istio's webhook: Envoy durations are programmed at millisecond precision.
  else if (minMs > 0 && !Number.isInteger(Math.round(ms * 1e6) / 1e6)) report.error(path, invalid(value, 'only durations to ms precision are supported'))
  return true
}
