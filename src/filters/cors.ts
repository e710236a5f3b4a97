// VirtualService `corsPolicy`, as Envoy's CORS filter applies it: a preflight from an allowed
// origin is answered here (200, never forwarded); an actual request from an allowed origin gets
// the allow/expose headers added to its response. A request from an origin that is not allowed
// is left alone (its preflight is forwarded, Istio's `unmatchedPreflights: FORWARD` default).

import type { CorsPolicy } from '../config/types'
import { parseDuration } from '../config/duration'
import { compileStringMatcher, type StringMatcher } from '../routing/string-matcher'
import type { HeaderMap } from './header-mutation'

export class CorsConfig {
  constructor (
    readonly origins: readonly StringMatcher[],
    readonly allowMethods: string,
    readonly allowHeaders: string,
    readonly exposeHeaders: string,
    readonly maxAge: string,
    readonly allowCredentials: boolean,
    readonly ignoreUnmatchedPreflights: boolean
  ) {}

  static compile (p: CorsPolicy | undefined): CorsConfig | null {
    if (p === undefined) return null
    const origins: StringMatcher[] = []
    for (const o of p.allowOrigin ?? []) origins.push(compileStringMatcher(o === '*' ? { prefix: '' } : { exact: o }, false))
    for (const o of p.allowOrigins ?? []) origins.push(compileStringMatcher(o, false))
    const maxAgeMs = p.maxAge !== undefined ? parseDuration(p.maxAge) : null
    return new CorsConfig(
      origins,
      (p.allowMethods ?? []).join(','),
      (p.allowHeaders ?? []).join(','),
      (p.exposeHeaders ?? []).join(','),
      maxAgeMs !== null ? String(Math.floor(maxAgeMs / 1000)) : '',
      p.allowCredentials === true,
      p.unmatchedPreflights === 'IGNORE'
    )
  }

  allowed (origin: string): boolean {
    for (const m of this.origins) if (m.match(origin)) return true
    return false
  }

  /** Headers of the local 200 answer to an allowed preflight. */
  preflightHeaders (origin: string): HeaderMap {
    const h: HeaderMap = { 'access-control-allow-origin': origin }
    if (this.allowMethods !== '') h['access-control-allow-methods'] = this.allowMethods
    if (this.allowHeaders !== '') h['access-control-allow-headers'] = this.allowHeaders
    if (this.maxAge !== '') h['access-control-max-age'] = this.maxAge
    if (this.allowCredentials) h['access-control-allow-credentials'] = 'true'
    return h
  }

  /** Adds the CORS headers to an actual (non-preflight) response for an allowed origin. */
  decorateResponse (origin: string, headers: HeaderMap): void {
    headers['access-control-allow-origin'] = origin
    if (this.allowCredentials) headers['access-control-allow-credentials'] = 'true'
    if (this.exposeHeaders !== '') headers['access-control-expose-headers'] = this.exposeHeaders
  }
}
