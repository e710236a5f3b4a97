// Envoy virtual host selection (RouteMatcher::findVirtualHost) and Istio's host-name wildcard
// algebra (pkg/config/host/name.go).

interface Wildcard<V> {
  /** The domain without its '*': '.foo.com' for '*.foo.com', 'foo.' for 'foo.*'. */
  readonly fixed: string
  readonly value: V
}

/**
 * Domain -> value, looked up by a request's Host/:authority the way Envoy does:
 *   1. exact domain (a Map hit),
 *   2. suffix wildcards `*.foo.com` / `*-bar.foo.com`, longest first,
 *   3. prefix wildcards `foo.*`, longest first,
 *   4. `*`.
 * A wildcard must cover at least one character (`*.foo.com` matches `a.foo.com` and
 * `a.b.foo.com`, not `foo.com` nor `.foo.com`). Lookups are case-insensitive (domains are
 * lowercased here, the authority in `lookup`).
 *
 * Ports: Istio gives gateways `host` and `host:port` domains, while current sidecars list bare
 * names and set ignore_port_in_host_matching. To serve both, each step is tried with the full
 * authority first and then with the port stripped (Envoy getPortStart: the last ':' not inside
 * `[...]`, so `[::1]:80` -> `[::1]` and `[::1]` stays). So `reviews:9080` prefers a
 * `reviews:9080` domain, then `reviews`, then wildcards.
 *
 * Envoy rejects a route config that lists a domain twice; Istio dedupes before sending. We keep
 * the first owner and report the rest in `duplicateDomains`, so the compiler can warn.
 */
export class VirtualHostTable<V> {
  readonly duplicateDomains: readonly string[]
  private readonly exact = new Map<string, V>()
  private readonly suffixes: readonly Wildcard<V>[]
  private readonly prefixes: readonly Wildcard<V>[]
  private readonly fallback: V | null

  constructor(entries: ReadonlyArray<{ domains: readonly string[]; value: V }>) {
    const seen = new Set<string>()
    const duplicates: string[] = []
    const suffixes: Wildcard<V>[] = []
    const prefixes: Wildcard<V>[] = []
    let fallback: V | null = null
    for (const { domains, value } of entries) {
      for (const raw of domains) {
        const domain = raw.toLowerCase()
        if (seen.has(domain)) {
          duplicates.push(domain)
          continue
        }
        seen.add(domain)
        if (domain === '*') fallback = value
        else if (domain.startsWith('*')) suffixes.push({ fixed: domain.slice(1), value })
        else if (domain.endsWith('*')) prefixes.push({ fixed: domain.slice(0, -1), value })
        else this.exact.set(domain, value)
      }
    }
    // Longest first; Array.prototype.sort is stable, so equal lengths keep config order (they
    // cannot both match one host anyway, being different strings of the same length).
    suffixes.sort((a, b) => b.fixed.length - a.fixed.length)
    prefixes.sort((a, b) => b.fixed.length - a.fixed.length)
    this.suffixes = suffixes
    this.prefixes = prefixes
    this.fallback = fallback
    this.duplicateDomains = duplicates
  }

  /** The value for `authority` (a Host header, possibly with port), or null: Envoy's 404 NR. */
  lookup(authority: string): V | null {
    // V8 returns the same string when there is nothing to lower, so the common case is free.
    const host = authority.toLowerCase()
    const hit = this.exact.get(host)
    if (hit !== undefined) return hit
    const portStart = getPortStart(host)
    const bare = portStart === -1 ? null : host.slice(0, portStart)
    if (bare !== null) {
      const bareHit = this.exact.get(bare)
      if (bareHit !== undefined) return bareHit
    }
    let w = this.suffixes.length === 0 ? null : findSuffix(this.suffixes, host, bare)
    if (w !== null) return w.value
    w = this.prefixes.length === 0 ? null : findPrefix(this.prefixes, host, bare)
    if (w !== null) return w.value
    return this.fallback
  }
}

/**
 * Linear over the wildcards, longest first, with endsWith: no substring per probe. Envoy keeps a
 * hash map per suffix length instead; its own comment puts the break-even at ~4 entries, and a
 * mesh has a handful of wildcard hosts.
 */
function findSuffix<V>(list: readonly Wildcard<V>[], host: string, bare: string | null): Wildcard<V> | null {
  for (let i = 0; i < list.length; i++) {
    const f = list[i].fixed
    if (host.length > f.length && host.endsWith(f)) return list[i]
  }
  if (bare === null) return null
  for (let i = 0; i < list.length; i++) {
    const f = list[i].fixed
    if (bare.length > f.length && bare.endsWith(f)) return list[i]
  }
  return null
}

function findPrefix<V>(list: readonly Wildcard<V>[], host: string, bare: string | null): Wildcard<V> | null {
  for (let i = 0; i < list.length; i++) {
    const f = list[i].fixed
    if (host.length > f.length && host.startsWith(f)) return list[i]
  }
  if (bare === null) return null
  for (let i = 0; i < list.length; i++) {
    const f = list[i].fixed
    if (bare.length > f.length && bare.startsWith(f)) return list[i]
  }
  return null
}

/** Envoy HeaderUtility::getPortStart: index of the port's ':' or -1. */
export function getPortStart(host: string): number {
  const colon = host.lastIndexOf(':')
  if (colon === -1) return -1
  const v6End = host.lastIndexOf(']')
  return v6End === -1 || v6End < colon ? colon : -1
}

/**
 * Istio host.Name(host).SubsetOf(pattern): every name `host` stands for is covered by `pattern`.
 * `*` covers everything; `*.example.com` covers `a.example.com`, `a.b.example.com` and
 * `*.example.com`/`*.a.example.com`, but not `example.com`; a non-wildcard pattern covers only
 * itself. A wildcard `host` is never covered by a non-wildcard pattern.
 * Used for VirtualService hosts against Gateway server hosts and DestinationRule hosts.
 */
export function hostMatchesPattern(host: string, pattern: string): boolean {
  const hWild = host.length > 0 && host.charCodeAt(0) === 42
  const pWild = pattern.length > 0 && pattern.charCodeAt(0) === 42
  if (hWild) return pWild && host.length >= pattern.length && endsWithFrom(host, 1, pattern, 1)
  if (pWild) return endsWithFrom(host, 0, pattern, 1)
  return host === pattern
}

/**
 * Istio host.Name(a).Matches(b): the two names overlap, in either direction
 * (`*.com` vs `foo.com`, `*.foo.com` vs `*.com`, `*` vs anything).
 */
export function hostsIntersect(a: string, b: string): boolean {
  const aWild = a.length > 0 && a.charCodeAt(0) === 42
  const bWild = b.length > 0 && b.charCodeAt(0) === 42
  if (aWild && bWild) return a.length < b.length ? endsWithFrom(b, 1, a, 1) : endsWithFrom(a, 1, b, 1)
  if (aWild) return endsWithFrom(b, 0, a, 1)
  if (bWild) return endsWithFrom(a, 0, b, 1)
  return a === b
}

/** s.slice(sFrom).endsWith(suffix.slice(suffixFrom)), without allocating the slices. */
function endsWithFrom(s: string, sFrom: number, suffix: string, suffixFrom: number): boolean {
  const n = suffix.length - suffixFrom
  if (s.length - sFrom < n) return false
  const off = s.length - n
  for (let i = 0; i < n; i++) if (s.charCodeAt(off + i) !== suffix.charCodeAt(suffixFrom + i)) return false
  return true
}
