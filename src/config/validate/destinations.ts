// Route destinations and gateway references, shared by HTTP, TLS and TCP routes.
import { checkLabels } from './common'
import { checkFQDN, checkPort, checkWildcardDomain, isDNS1123Label } from './names'
import { child, item } from './path'
import { invalid, required, type Report } from './report'
import { has, list, num, obj, str, type Obj } from './values'

export function checkDestination (dest: Obj | undefined, path: string, report: Report): void {
  if (dest === undefined) return
  const host = str(dest.host)
  if (host === undefined) {
    if (!has(dest, 'host')) report.error(child(path, 'host'), required())
  } else if (host === '*') {
    report.error(child(path, 'host'), `invalid destination host ${host}`)
  } else {
    const err = checkWildcardDomain(host)
    if (err !== undefined) report.error(child(path, 'host'), err)
  }
  const subset = str(dest.subset)
  if (subset !== undefined) {
    const err = checkSubsetName(subset)
    if (err !== undefined) report.error(child(path, 'subset'), err)
  }
  const port = num(obj(dest.port)?.number)
  if (port !== undefined) {
    const err = checkPort(port)
    if (err !== undefined) report.error(child(child(path, 'port'), 'number'), err)
  }
}

export function checkSubsetName (name: string): string | undefined {
  if (name === '') return 'subset name cannot be empty'
  if (!isDNS1123Label(name)) return `subset name is invalid: ${name}`
  return undefined
}

/**
 * `route` of an HTTP, TLS or TCP route. Weights are relative (any positive sum is fine; Envoy
 * normalises), but a negative weight, or several destinations that all weigh 0, are refused.
 */
export function checkRouteDestinations (routes: unknown, path: string, report: Report, extra?: (r: Obj, path: string) => void): void {
  const all = list(routes)
  let total = 0
  all.forEach((raw, i) => {
    const p = item(path, i)
    const r = obj(raw)
    if (r === undefined) {
      report.error(p, 'weight may not be nil')
      return
    }
    const dest = obj(r.destination)
    if (dest === undefined) {
      if (!has(r, 'destination')) report.error(child(p, 'destination'), required('destination is required'))
    } else {
      checkDestination(dest, child(p, 'destination'), report)
    }
    const weight = num(r.weight) ?? 0
    if (weight < 0) report.error(child(p, 'weight'), `weight ${weight} < 0`)
    total += weight
    extra?.(r, p)
  })
  if (all.length > 1 && total === 0) report.error(path, 'total destination weight = 0')
}

/** What every match kind (HTTP, TLS, TCP) may narrow by: destination `port`, `sourceLabels`, `gateways`. */
export function checkSourceAndPort (m: Obj, path: string, report: Report): void {
  const port = num(m.port)
  if (port !== undefined && port !== 0) {
    const err = checkPort(port)
    if (err !== undefined) report.error(child(path, 'port'), err)
  }
  checkLabels(m.sourceLabels, child(path, 'sourceLabels'), report)
  checkGatewayNames(m.gateways, child(path, 'gateways'), report)
}

/** `gateways`: `mesh`, `name`, `namespace/name`, or the legacy `name.namespace` (warned). */
export function checkGatewayNames (names: unknown, path: string, report: Report): void {
  list(names).forEach((raw, i) => {
    const name = str(raw)
    if (name === undefined) return
    const p = item(path, i)
    const slash = name.indexOf('/')
    if (slash < 0) {
      if (name.includes('.')) {
        const parts = name.split('.')
        report.warn(p, `using legacy gatewayName format "${name}"; prefer the <namespace>/<name> format: "${parts[1]}/${parts[0]}"`)
      }
      const err = checkFQDN(name)
      if (err !== undefined) report.error(p, err)
      return
    }
    const ns = name.slice(0, slash)
    const gw = name.slice(slash + 1)
    if (ns === '' || gw === '') report.error(p, 'config namespace and gateway name cannot be empty')
    if (!isDNS1123Label(ns)) report.error(p, invalid(name, `invalid value for namespace: "${ns}"`))
    if (!isDNS1123Label(gw)) report.error(p, invalid(name, `invalid value for gateway name: "${gw}"`))
  })
}
