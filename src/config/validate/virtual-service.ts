// VirtualService: hosts, gateways, and the http / tls / tcp route lists (Istio's
// ValidateVirtualService). HTTP route details are in http-route.ts.
import { checkExportTo, field } from './common'
import { checkGatewayNames, checkRouteDestinations, checkSourceAndPort } from './destinations'
import { checkHTTPRoute } from './http-route'
import { checkIPSubnet, checkWildcardDomain, isIPAddress, isJwtClaimRoute } from './names'
import { child, item } from './path'
import { required, type Report } from './report'
import { hostMatches, hostSubsetOf } from './hosts'
import { list, obj, str, type Obj } from './values'

const MESH = 'mesh'

export function checkVirtualService (spec: Obj, report: Report, namespace: string | undefined): void {
  const hosts = list(spec.hosts).map(str).filter((h): h is string => h !== undefined)
  const gateways = list(spec.gateways).map(str).filter((g): g is string => g !== undefined)
  // Without hosts the VirtualService is a delegate: it only makes sense as the target of a
  // root VirtualService's `delegate`, and only for HTTP.
  const delegate = hosts.length === 0
  if (delegate) {
    if (gateways.length > 0) report.error('spec.gateways', 'delegate virtual service must have no gateways specified')
    if (list(spec.tls).length > 0) report.error('spec.tls', 'delegate virtual service must have no tls route specified')
    if (list(spec.tcp).length > 0) report.error('spec.tcp', 'delegate virtual service must have no tcp route specified')
  }
  checkGatewayNames(spec.gateways, 'spec.gateways', report)
  const appliesToGateway = gateways.length > 0 && !gateways.includes(MESH)
  const appliesToMesh = !appliesToGateway

  if (!appliesToGateway) checkJwtClaimRoutes(spec, report)
  checkHosts(spec, report, appliesToGateway && hasSniMatch(spec), appliesToMesh)

  if (list(spec.http).length === 0 && list(spec.tcp).length === 0 && list(spec.tls).length === 0) {
    report.error('spec', required('http, tcp or tls must be provided in virtual service'))
  }
  list(spec.http).forEach((raw, i) => {
    const p = item('spec.http', i)
    const route = obj(raw)
    if (route === undefined) report.error(p, 'http route may not be null')
    else checkHTTPRoute(route, p, report, { delegate })
  })
  list(spec.tls).forEach((raw, i) => checkTLSRoute(obj(raw), item('spec.tls', i), report, hosts))
  list(spec.tcp).forEach((raw, i) => checkTCPRoute(obj(raw), item('spec.tcp', i), report))
  checkExportTo(spec.exportTo, 'spec.exportTo', report, namespace, false)
  warnUnreachableRules(spec.http, 'spec.http', report)
  warnUnreachableRules(spec.tcp, 'spec.tcp', report)
  warnUnreachableRules(spec.tls, 'spec.tls', report)
}

// AUTO_PASSTHROUGH gateways route on SNI names istiod generates: outbound_.<port>_._.<host>.
const AUTO_SNI = /^outbound_\.[0-9][^_]*_\._\.[a-zA-Z]/

function hasSniMatch (spec: Obj): boolean {
  return list(spec.tls).some(r => list(obj(r)?.match).some(m => list(obj(m)?.sniHosts).length > 0))
}

function checkHosts (spec: Obj, report: Report, gatewaySni: boolean, appliesToMesh: boolean): void {
  const raw = list(spec.hosts)
  let allValid = true
  raw.forEach((h, i) => {
    const host = str(h)
    if (host === undefined) return
    const err = gatewaySni && AUTO_SNI.test(host) ? undefined : checkWildcardDomain(host)
    if (err !== undefined) {
      if (!isIPAddress(host)) {
        report.error(item('spec.hosts', i), err)
        allValid = false
      }
    } else if (appliesToMesh && host === '*') {
      report.error(item('spec.hosts', i), 'wildcard host * is not allowed for virtual services bound to the mesh gateway')
      allValid = false
    }
  })
  if (!allValid) return
  // `*.foo.com` and `bar.foo.com` in one VirtualService would claim the same requests twice.
  for (let i = 0; i < raw.length; i++) {
    for (let j = i + 1; j < raw.length; j++) {
      const a = str(raw[i])
      const b = str(raw[j])
      if (a !== undefined && b !== undefined && hostMatches(a, b)) {
        report.error(item('spec.hosts', j), `duplicate hosts in virtual service: ${a} & ${b}`)
      }
    }
  }
}

/** Routing on JWT claims needs the request authenticated at a gateway; sidecars cannot do it. */
function checkJwtClaimRoutes (spec: Obj, report: Report): void {
  list(spec.http).forEach((r, i) => {
    list(obj(r)?.match).forEach((m, j) => {
      for (const key of ['headers', 'withoutHeaders'] as const) {
        for (const name of Object.keys(field(obj(m), key) ?? {})) {
          if (isJwtClaimRoute(name)) {
            report.error(child(child(item(child(item('spec.http', i), 'match'), j), key), name),
              `JWT claim based routing (key: ${name}) is only supported for gateway, found no gateways: [${list(spec.gateways).join(' ')}]`)
          }
        }
      }
    })
  })
}

function checkL4Match (m: Obj, path: string, report: Report): void {
  list(m.destinationSubnets).forEach((raw, i) => {
    const s = str(raw)
    const err = s === undefined ? undefined : checkIPSubnet(s)
    if (err !== undefined) report.error(item(child(path, 'destinationSubnets'), i), err)
  })
  checkSourceAndPort(m, path, report)
}

function checkTLSRoute (route: Obj | undefined, path: string, report: Report, vsHosts: string[]): void {
  if (route === undefined) return
  const matches = list(route.match)
  if (matches.length === 0) report.error(child(path, 'match'), required('TLS route must have at least one match condition'))
  matches.forEach((raw, i) => {
    const p = item(child(path, 'match'), i)
    const m = obj(raw)
    if (m === undefined) {
      report.error(p, 'TLS match may not be null')
      return
    }
    const sni = list(m.sniHosts)
    if (sni.length === 0) report.error(child(p, 'sniHosts'), required('TLS match must have at least one SNI host'))
    sni.forEach((h, k) => {
      const host = str(h)
      if (host !== undefined) checkSniHost(host, item(child(p, 'sniHosts'), k), report, vsHosts)
    })
    checkL4Match(m, p, report)
  })
  if (list(route.route).length === 0) report.error(child(path, 'route'), required('TLS route is required'))
  checkRouteDestinations(route.route, child(path, 'route'), report)
}

function checkSniHost (host: string, path: string, report: Report, vsHosts: string[]): void {
  const err = checkWildcardDomain(host)
  if (err !== undefined) {
    if (isIPAddress(host)) report.warn(path, `using an IP address ("${host}") goes against SNI spec and most clients do not support this`)
    else report.error(path, err)
    return
  }
  if (!vsHosts.some(h => hostSubsetOf(host, h))) {
    report.error(path, `SNI host "${host}" is not a compatible subset of any of the virtual service hosts: [${vsHosts.join(', ')}]`)
  }
}

function checkTCPRoute (route: Obj | undefined, path: string, report: Report): void {
  if (route === undefined) return
  list(route.match).forEach((raw, i) => {
    const m = obj(raw)
    if (m === undefined) report.error(item(child(path, 'match'), i), 'tcp match may not be nil')
    else checkL4Match(m, item(child(path, 'match'), i), report)
  })
  if (list(route.route).length === 0) report.error(child(path, 'route'), required('TCP route is required'))
  checkRouteDestinations(route.route, child(path, 'route'), report)
}

/**
 * Istio warns (VirtualServiceUnreachableRule / IneffectiveMatch) about rules that can never be
 * reached: a rule after a catch-all, or a match identical to an earlier one. The prefix-overlap
 * analysis istiod also does is not repeated here.
 */
function warnUnreachableRules (routes: unknown, path: string, report: Report): void {
  const seen = new Map<string, number>()
  let catchAll = -1
  list(routes).forEach((raw, i) => {
    const route = obj(raw)
    if (route === undefined) return
    const name = str(route.name)
    const label = name !== undefined && name !== '' ? `"${name}"` : `#${i}`
    const matches = list(route.match)
    if (matches.length === 0) {
      if (catchAll >= 0) report.warn(item(path, i), `virtualService rule ${label} not used (only the last rule can have no matches)`)
      catchAll = i
      return
    }
    let duplicates = 0
    matches.forEach((m, j) => {
      const key = matchKey(m)
      const earlier = seen.get(key)
      if (earlier !== undefined) {
        report.warn(item(child(item(path, i), 'match'), j), `virtualService rule ${label} match #${j} is not used (duplicate/overlapping match in rule #${earlier})`)
        duplicates++
      } else {
        seen.set(key, i)
      }
    })
    if (duplicates === matches.length) report.warn(item(path, i), `virtualService rule ${label} not used (all matches used by prior rules)`)
  })
}

/** A canonical form of a match, ignoring its name, so identical conditions compare equal. */
function matchKey (m: unknown): string {
  const canon = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(canon)
    const o = obj(v)
    if (o === undefined) return v
    return Object.fromEntries(Object.keys(o).sort().map(k => [k, canon(o[k])]))
  }
  const o = obj(m)
  if (o === undefined) return JSON.stringify(m)
  const { name: _name, ...rest } = o
  return JSON.stringify(canon(rest))
}
