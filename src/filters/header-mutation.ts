// VirtualService `headers` (route and destination level), compiled once. Envoy applies
// destination-level operations after route-level ones (weighted cluster headers are
// "more specific" and win), removes before sets/adds.

import type { Headers, HeaderOperations } from '../config/types'

export type HeaderMap = Record<string, string | string[] | undefined>

export class HeaderMutation {
  constructor (
    readonly remove: readonly string[],
    readonly set: ReadonlyArray<readonly [string, string]>,
    readonly add: ReadonlyArray<readonly [string, string]>
  ) {}

  static compile (ops: HeaderOperations | undefined): HeaderMutation | null {
    if (ops === undefined) return null
    const remove = (ops.remove ?? []).map(h => h.toLowerCase())
    const set = Object.entries(ops.set ?? {}).map(([k, v]) => [k.toLowerCase(), String(v)] as const)
    const add = Object.entries(ops.add ?? {}).map(([k, v]) => [k.toLowerCase(), String(v)] as const)
    if (remove.length === 0 && set.length === 0 && add.length === 0) return null
    return new HeaderMutation(remove, set, add)
  }

  apply (headers: HeaderMap): void {
    for (const name of this.remove) delete headers[name]
    for (const [name, value] of this.set) headers[name] = value
    for (const [name, value] of this.add) {
      const prev = headers[name]
      if (prev === undefined) headers[name] = value
      else if (Array.isArray(prev)) prev.push(value)
      else headers[name] = [prev, value]
    }
  }
}

export interface CompiledHeaders {
  request: HeaderMutation | null
  response: HeaderMutation | null
}

export function compileHeaders (h: Headers | undefined): CompiledHeaders | null {
  if (h === undefined) return null
  const request = HeaderMutation.compile(h.request)
  const response = HeaderMutation.compile(h.response)
  return request === null && response === null ? null : { request, response }
}
