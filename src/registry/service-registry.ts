// Where services and their endpoints come from. Today: ServiceEntry (with inline endpoints or a
// workloadSelector over WorkloadEntry). A Kubernetes source would fill the same Service shape.

import type { ConfigSet, ServiceEntryResource, WorkloadEntrySpec, WorkloadEntryResource } from '../config/types'
import { fqdn } from '../routing/host-names'

export type Protocol = 'HTTP' | 'HTTP2' | 'GRPC' | 'GRPC-WEB' | 'HTTPS' | 'TLS' | 'TCP' | 'MONGO' | 'REDIS' | 'MYSQL' | 'UNKNOWN'

const KNOWN_PROTOCOLS = new Set<string>(['HTTP', 'HTTP2', 'GRPC', 'GRPC-WEB', 'HTTPS', 'TLS', 'TCP', 'MONGO', 'REDIS', 'MYSQL'])

/** Istio's protocol selection: explicit `protocol` (any case), else the port name's prefix before `-`. */
export function portProtocol (protocol: string | undefined, name: string | undefined): Protocol {
  if (protocol !== undefined && protocol !== '') {
    const p = protocol.toUpperCase()
    return KNOWN_PROTOCOLS.has(p) ? (p as Protocol) : 'UNKNOWN'
  }
  if (name !== undefined) {
    const prefix = name.split('-')[0].toUpperCase()
    if (KNOWN_PROTOCOLS.has(prefix)) return prefix as Protocol
  }
  return 'UNKNOWN'
}

export function isHttpProtocol (p: Protocol): boolean {
  return p === 'HTTP' || p === 'HTTP2' || p === 'GRPC' || p === 'GRPC-WEB'
}

export interface ServicePortInfo {
  number: number
  name: string
  protocol: Protocol
  targetPort: number | null
}

export interface ServiceEndpoint {
  address: string
  /** Port overrides by service port name (ServiceEntry endpoint / WorkloadEntry `ports`). */
  ports: Readonly<Record<string, number>>
  labels: Readonly<Record<string, string>>
  weight: number
  locality: string
  /** The WorkloadEntry's name when the endpoint came from one (Istio's destination_workload). */
  workloadName: string | null
  namespace: string
}

export interface Service {
  hostname: string
  namespace: string
  addresses: readonly string[]
  ports: readonly ServicePortInfo[]
  resolution: 'NONE' | 'STATIC' | 'DNS' | 'DNS_ROUND_ROBIN'
  location: 'MESH_EXTERNAL' | 'MESH_INTERNAL'
  endpoints: readonly ServiceEndpoint[]
  source: ServiceEntryResource
}

export class ServiceRegistry {
  /** By hostname; a later ServiceEntry for the same host merges its endpoints (Istio merges too). */
  readonly services = new Map<string, Service>()
  /** By VIP (ServiceEntry `addresses`), for sidecar original-destination lookups. */
  readonly byAddress = new Map<string, Service[]>()

  static fromConfig (config: ConfigSet): ServiceRegistry {
    const reg = new ServiceRegistry()
    for (const se of config.serviceEntries) reg.addServiceEntry(se, config.workloadEntries)
    return reg
  }

  lookup (hostname: string): Service | null {
    return this.services.get(hostname) ?? null
  }

  /** The port of the service that a destination without `port` means: the only one, else null. */
  static defaultPort (svc: Service): ServicePortInfo | null {
    return svc.ports.length === 1 ? svc.ports[0] : null
  }

  static port (svc: Service, number: number): ServicePortInfo | null {
    for (const p of svc.ports) if (p.number === number) return p
    return null
  }

  /** The port an endpoint listens on for a service port (named override, targetPort, then the port). */
  static endpointPort (ep: ServiceEndpoint, port: ServicePortInfo): number {
    return ep.ports[port.name] ?? port.targetPort ?? port.number
  }

  private addServiceEntry (se: ServiceEntryResource, workloadEntries: readonly WorkloadEntryResource[]): void {
    const spec = se.spec
    const namespace = se.metadata.namespace ?? 'default'
    const ports: ServicePortInfo[] = (spec.ports ?? []).map(p => ({
      number: p.number,
      name: p.name ?? '',
      protocol: portProtocol(p.protocol, p.name),
      targetPort: p.targetPort ?? null
    }))
    const endpoints: ServiceEndpoint[] = []
    const toEndpoint = (e: WorkloadEntrySpec, workloadName: string | null, ns: string): ServiceEndpoint => ({
      address: e.address ?? '',
      ports: e.ports ?? {},
      labels: e.labels ?? {},
      weight: e.weight !== undefined && e.weight > 0 ? e.weight : 1,
      locality: e.locality ?? '',
      workloadName,
      namespace: ns
    })
    for (const e of spec.endpoints ?? []) endpoints.push(toEndpoint(e, null, namespace))
    const selector = spec.workloadSelector?.labels
    if (selector !== undefined) {
      for (const we of workloadEntries) {
        if ((we.metadata.namespace ?? 'default') !== namespace) continue
        const labels = we.spec.labels ?? {}
        if (Object.entries(selector).every(([k, v]) => labels[k] === v)) {
          endpoints.push(toEndpoint(we.spec, we.metadata.name, namespace))
        }
      }
    }
    const resolution = spec.resolution ?? 'NONE'
    // DNS with no endpoints: Envoy resolves the service host itself.
    if ((resolution === 'DNS' || resolution === 'DNS_ROUND_ROBIN') && endpoints.length === 0) {
      for (const h of spec.hosts ?? []) {
        if (!h.startsWith('*')) endpoints.push({ address: h, ports: {}, labels: {}, weight: 1, locality: '', workloadName: null, namespace })
      }
    }
    for (const rawHost of spec.hosts ?? []) {
      const hostname = fqdn(rawHost, namespace)
      const hostEndpoints = (resolution === 'DNS' || resolution === 'DNS_ROUND_ROBIN') && (spec.endpoints ?? []).length === 0 && selector === undefined
        ? endpoints.filter(e => e.address === rawHost)
        : endpoints
      const existing = this.services.get(hostname)
      const svc: Service = existing !== undefined
        ? { ...existing, ports: mergePorts(existing.ports, ports), endpoints: [...existing.endpoints, ...hostEndpoints], addresses: [...existing.addresses, ...(spec.addresses ?? [])] }
        : {
            hostname,
            namespace,
            addresses: spec.addresses ?? [],
            ports,
            resolution,
            location: spec.location ?? 'MESH_EXTERNAL',
            endpoints: hostEndpoints,
            source: se
          }
      this.services.set(hostname, svc)
      for (const addr of spec.addresses ?? []) {
        const list = this.byAddress.get(addr) ?? []
        list.push(svc)
        this.byAddress.set(addr, list)
      }
    }
  }
}

function mergePorts (a: readonly ServicePortInfo[], b: readonly ServicePortInfo[]): ServicePortInfo[] {
  const out = [...a]
  for (const p of b) if (!out.some(q => q.number === p.number)) out.push(p)
  return out
}
