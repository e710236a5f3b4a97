// Cross-resource references, reported the way `istioctl analyze` does (IST0101
// ReferencedResourceNotFound). These are warnings, never errors: Istio accepts each resource on
// its own, and the missing piece may be defined later or live in Kubernetes (a Service).
import type { ConfigSet, Diagnostic, VirtualServiceResource } from '../types'
import { CLUSTER_DOMAIN, hostSubsetOf, resolveHost } from './hosts'
import { child, item } from './path'
import { list, obj, str, type Obj } from './values'

export const REFERENCED_RESOURCE_NOT_FOUND = 'IST0101'
const MESH = 'mesh'

interface Index {
  /** `namespace/name` of every Gateway. */
  gateways: Set<string>
  /** Subset names per DestinationRule host (resolved FQDN or wildcard). */
  subsets: Array<{ host: string, names: Set<string> }>
  /** ServiceEntry hosts (resolved). */
  serviceHosts: string[]
}

/** Cross-resource references (subsets, gateways, hosts) that other files define: warnings, as istioctl analyze. */
export function analyzeReferences (config: ConfigSet): Diagnostic[] {
  const index = buildIndex(config)
  const out: Diagnostic[] = []
  for (const vs of config.virtualServices) checkVirtualService(vs, index, out)
  return out
}

function namespaceOf (r: { metadata: { namespace?: string } }): string {
  return r.metadata.namespace ?? 'default'
}

function buildIndex (config: ConfigSet): Index {
  const gateways = new Set(config.gateways.map(g => `${namespaceOf(g)}/${g.metadata.name}`))
  const subsets = config.destinationRules.map(dr => ({
    host: resolveHost(dr.spec.host ?? '', namespaceOf(dr)),
    names: new Set((dr.spec.subsets ?? []).map(s => s.name))
  }))
  const serviceHosts = config.serviceEntries.flatMap(se => (se.spec.hosts ?? []).map(h => resolveHost(h, namespaceOf(se))))
  return { gateways, subsets, serviceHosts }
}

/** `ns/name`, legacy `name.ns`, or a short name in the VirtualService's namespace. */
function gatewayKey (ref: string, namespace: string): string {
  const slash = ref.indexOf('/')
  if (slash >= 0) return ref
  const dot = ref.indexOf('.')
  if (dot >= 0) return `${ref.slice(dot + 1).split('.')[0]}/${ref.slice(0, dot)}`
  return `${namespace}/${ref}`
}

function checkVirtualService (vs: VirtualServiceResource, index: Index, out: Diagnostic[]): void {
  const ns = namespaceOf(vs)
  const warn = (field: string, message: string): void => {
    out.push({
      severity: 'warning',
      file: vs.source.file,
      document: vs.source.document,
      kind: vs.kind,
      name: vs.metadata.name,
      field,
      message,
      code: REFERENCED_RESOURCE_NOT_FOUND
    })
  }
  const checkGateways = (refs: unknown, path: string): void => {
    list(refs).forEach((raw, i) => {
      const ref = str(raw)
      if (ref === undefined || ref === MESH) return
      if (!index.gateways.has(gatewayKey(ref, ns))) warn(item(path, i), `Referenced gateway not found: "${ref}"`)
    })
  }
  const checkDestination = (dest: Obj | undefined, path: string): void => {
    const host = str(dest?.host)
    if (dest === undefined || host === undefined) return
    const fqdn = resolveHost(host, ns)
    // A Kubernetes Service may exist without Ferry seeing it; only other names need a ServiceEntry.
    const known = fqdn.endsWith(`.${CLUSTER_DOMAIN}`) || index.serviceHosts.some(h => hostSubsetOf(fqdn, h))
    if (!known) warn(child(path, 'host'), `Referenced host not found: "${host}"`)
    const subset = str(dest.subset)
    if (subset === undefined || subset === '') return
    const defined = index.subsets.some(s => s.names.has(subset) && hostSubsetOf(fqdn, s.host))
    if (!defined) warn(child(path, 'subset'), `Referenced host+subset in destinationrule not found: "${host}+${subset}"`)
  }
  const spec = vs.spec as Obj
  checkGateways(spec.gateways, 'spec.gateways')
  list(spec.http).forEach((raw, i) => {
    const p = item('spec.http', i)
    const route = obj(raw)
    list(route?.match).forEach((m, j) => checkGateways(obj(m)?.gateways, child(item(child(p, 'match'), j), 'gateways')))
    list(route?.route).forEach((r, j) => checkDestination(obj(obj(r)?.destination), child(item(child(p, 'route'), j), 'destination')))
    checkDestination(obj(route?.mirror), child(p, 'mirror'))
    list(route?.mirrors).forEach((m, j) => checkDestination(obj(obj(m)?.destination), child(item(child(p, 'mirrors'), j), 'destination')))
  })
  for (const proto of ['tcp', 'tls'] as const) {
    list(spec[proto]).forEach((raw, i) => {
      const p = item(`spec.${proto}`, i)
      const route = obj(raw)
      list(route?.match).forEach((m, j) => checkGateways(obj(m)?.gateways, child(item(child(p, 'match'), j), 'gateways')))
      list(route?.route).forEach((r, j) => checkDestination(obj(obj(r)?.destination), child(item(child(p, 'route'), j), 'destination')))
    })
  }
}
