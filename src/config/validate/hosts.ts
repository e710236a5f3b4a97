// Host name relations as Istio defines them (pkg/config/host): a leading `*` stands for any
// prefix, so `*.foo.com` covers `bar.foo.com` and `*` covers everything.

const isWildcard = (h: string): boolean => h.startsWith('*')

/** Whether the two hosts can claim a common name (either covers the other). */
export function hostMatches (a: string, b: string): boolean {
  if (isWildcard(a)) {
    if (isWildcard(b)) return a.length < b.length ? b.slice(1).endsWith(a.slice(1)) : a.slice(1).endsWith(b.slice(1))
    return b.endsWith(a.slice(1))
  }
  if (isWildcard(b)) return a.endsWith(b.slice(1))
  return a === b
}

/** Whether every name `a` covers is also covered by `b`. */
export function hostSubsetOf (a: string, b: string): boolean {
  if (isWildcard(a)) return isWildcard(b) && a.slice(1).endsWith(b.slice(1))
  if (isWildcard(b)) return a.endsWith(b.slice(1))
  return a === b
}

export const CLUSTER_DOMAIN = 'svc.cluster.local'

/**
 * Istio's short-name rule: a host without a dot is a Kubernetes service in the resource's
 * namespace (`reviews` in `default` is `reviews.default.svc.cluster.local`); anything with a
 * dot, or a wildcard, is taken as written.
 */
export function resolveHost (host: string, namespace: string): string {
  if (host.includes('.') || isWildcard(host)) return host
  return `${host}.${namespace}.${CLUSTER_DOMAIN}`
}
