// Kubernetes/Istio host name forms: what a short name in a VirtualService means, and which Host
// headers a sidecar accepts for a service (the Envoy virtual host `domains`).
import { isIP } from 'node:net'
import { getPortStart } from './virtual-host-table'

/**
 * Istio's ResolveShortnameToFQDN (pilot/pkg/model/config.go), exactly: a name WITHOUT a dot gets
 * `.<namespace>.svc.<domainSuffix>`; anything with a dot (`reviews.prod`,
 * `api.example.com`), the wildcard `*`, and IP addresses are returned unchanged. So
 * `reviews.prod` stays `reviews.prod` -- Istio does not expand it, and a VirtualService host
 * written that way matches only a Host header or service literally named so.
 */
export function fqdn(host: string, namespace: string, domainSuffix = 'cluster.local'): string {
  if (host === '' || host === '*' || host.includes('.') || isIP(host) !== 0) return host
  let out = host
  if (namespace !== '') out += '.' + namespace
  if (domainSuffix !== '') out += '.svc.' + domainSuffix
  return out
}

/**
 * The Envoy virtual host domains Istio gives a sidecar for one service port
 * (httproute.go generateVirtualHostDomains + GenerateAltVirtualHosts, with
 * PILOT_ENABLE_ABSOLUTE_FQDN_VHOST_DOMAIN at its default, true), in Istio's order:
 *
 *   fqdn, fqdn:port, fqdn., fqdn.:port,
 *   same namespace:  name, name:port, name.ns.svc, name.ns.svc:port, name.ns, name.ns:port
 *   other namespace: name.ns, name.ns:port, name.ns.svc, name.ns.svc:port
 *   then each VIP and VIP:port (IPv6 as [addr] and [addr]:port).
 *
 * Short forms exist only for `<name>.<ns>.svc.<domainSuffix>` hosts; a ServiceEntry host such as
 * `api.example.com` gets just itself, its absolute form and its VIPs. `port` 0 means "no :port
 * variants" (Istio's portNoAppendPortSuffix: current sidecars set ignore_port_in_host_matching
 * instead); VirtualHostTable accepts both styles. Duplicates are removed, first kept.
 */
export function sidecarDomains(
  fqdnHost: string,
  port: number,
  proxyNamespace: string,
  vips: readonly string[],
  domainSuffix = 'cluster.local',
): string[] {
  const out: string[] = []
  const add = (d: string): void => {
    out.push(ipv6Compliant(d))
    if (port !== 0) out.push(hostPort(d, port))
  }
  add(fqdnHost)
  if (isIP(fqdnHost) === 0) add(fqdnHost + '.')
  // GenerateAltVirtualHostsForKubernetesService, index arithmetic kept as Istio has it.
  const ih = fqdnHost.indexOf('.svc.')
  const dot = fqdnHost.indexOf('.')
  if (fqdnHost.endsWith('.svc.' + domainSuffix) && ih > 0 && dot + 1 < fqdnHost.length && dot + 1 <= ih) {
    const name = fqdnHost.slice(0, dot)
    const nameNs = fqdnHost.slice(0, ih)
    if (fqdnHost.slice(dot + 1, ih) === proxyNamespace) {
      add(name)
      add(nameNs + '.svc')
      add(nameNs)
    } else {
      add(nameNs)
      add(nameNs + '.svc')
    }
  }
  for (const vip of vips) if (vip !== '' && vip !== '0.0.0.0') add(vip)
  return [...new Set(out)]
}

function ipv6Compliant(host: string): string {
  return host.includes(':') ? `[${host}]` : host
}

/** Go's net.JoinHostPort, which Istio's util.DomainName uses. */
function hostPort(host: string, port: number): string {
  return `${ipv6Compliant(host)}:${port}`
}

/**
 * `host[:port]` split where Envoy splits it (getPortStart: the last ':' outside IPv6 brackets).
 * `port` is null when there is none or it is not a number; an IPv6 host keeps its brackets.
 */
export function splitAuthority (authority: string): { host: string, port: number | null } {
  const i = getPortStart(authority)
  if (i <= 0) return { host: authority, port: null }
  const port = authority.slice(i + 1)
  return /^\d+$/.test(port) ? { host: authority.slice(0, i), port: Number(port) } : { host: authority, port: null }
}
