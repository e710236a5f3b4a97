// Path rewrites and redirect targets, as Envoy computes them from Istio's route config.

import type { RedirectConfig, UriRewrite } from '../model/snapshot'
import type { RequestView } from '../routing/http-match'
import { splitAuthority } from '../routing/host-names'

/** The upstream :path after `rewrite.uri` / `uriRegexRewrite`; the query string is kept. */
export function applyUriRewrite (rw: UriRewrite, view: RequestView): string {
  const query = view.query === '' ? '' : `?${view.query}`
  switch (rw.kind) {
    case 'prefix': {
      const rest = view.pathOnly.startsWith(rw.matchedPrefix) ? view.pathOnly.slice(rw.matchedPrefix.length) : view.pathOnly
      return rw.replacement + rest + query
    }
    case 'full':
      return rw.replacement + query
    case 'regex': {
      const m = rw.pattern.exec(view.pathOnly)
      if (m === null) return view.path
      // Envoy's regex_rewrite substitution uses \1 for capture groups.
      const out = rw.substitution.replace(/\\(\d)/g, (_s, d: string) => m[Number(d)] ?? '')
      return out + query
    }
  }
}

const DEFAULT_PORTS: Record<string, number> = { http: 80, https: 443 }

/** The `location` of a redirect: Envoy keeps each part of the request the redirect does not set. */
export function redirectLocation (r: RedirectConfig, view: RequestView): string {
  const scheme = r.scheme ?? view.scheme
  const authority = r.authority ?? view.authority
  const split = splitAuthority(authority)
  let host = split.host
  let port = split.port ?? 0
  if (r.port !== null) port = r.port
  if (r.scheme !== null && r.port === null && r.authority === null) port = 0 // a scheme change drops the request's port
  if (port === DEFAULT_PORTS[scheme]) port = 0
  if (port !== 0) host = `${host}:${port}`
  let path = view.path
  if (r.uri !== null) {
    // The request's query string survives unless the redirect path brings its own.
    path = r.uri.includes('?') || view.query === '' ? r.uri : `${r.uri}?${view.query}`
  }
  return `${scheme}://${host}${path}`
}
