// Compiles validated Istio resources and the service registry into route tables and cluster
// specs: what istiod would push to Envoy as RDS and CDS. Pure: same input, same output.

import type {
  ConfigSet, Destination, Diagnostic, GatewayResource, HTTPMatchRequest, HTTPRoute, VirtualServiceResource
} from '../config/types'
import { parseDuration } from '../config/duration'
import { allOf, compileHttpMatch, resolveGatewayName, staticMatch } from '../routing/http-match'
import { VirtualHostTable, hostMatchesPattern } from '../routing/virtual-host-table'
import { compileWeights } from '../routing/weighted-pick'
import { compileRegex } from '../routing/regex'
import { fqdn, sidecarDomains } from '../routing/host-names'
import { compileHeaders } from '../filters/header-mutation'
import { CorsConfig } from '../filters/cors'
import { FaultConfig } from '../filters/fault'
import { RetryPolicy } from '../forwarding/retry-policy'
import { singleDestinationRoute } from './single-route'
import { ServiceRegistry, isHttpProtocol, portProtocol } from '../registry/service-registry'
import {
  connectionLimits, findDestinationRule, hashKeySource, lbSpec, outlierSpec, resolvePolicy
} from './traffic-policy'
import type {
  ClusterSpec, HttpListenerSpec, MirrorTarget, RouteAction, RouteEntry, RouteTable, Snapshot, TcpRouteAction, UriRewrite, VirtualHost,
  WeightedDestination
} from './snapshot'

export interface ProxyIdentity {
  role: 'gateway' | 'sidecar'
  namespace: string
  labels: Readonly<Record<string, string>>
}

export type CompiledSnapshot = Omit<Snapshot, 'clusters'>

export function compileSnapshot (config: ConfigSet, diagnostics: readonly Diagnostic[], proxy: ProxyIdentity, version: number): CompiledSnapshot {
  const registry = ServiceRegistry.fromConfig(config)
  const clusterSpecs = compileClusters(config, registry)
  const ctx = new CompileContext(config, registry, proxy)
  return {
    version,
    createdAt: new Date(),
    config,
    diagnostics,
    registry,
    gatewayListeners: proxy.role === 'gateway' ? ctx.gatewayListeners() : [],
    meshRouteTables: proxy.role === 'sidecar' ? ctx.meshRouteTables() : new Map(),
    meshTcpRoutes: proxy.role === 'sidecar' ? ctx.meshTcpRoutes() : new Map(),
    clusterSpecs
  }
}

export function clusterName (port: number, subset: string, host: string): string {
  return `outbound|${port}|${subset}|${host}`
}

// ------------------------------------------------------------------ clusters

function compileClusters (config: ConfigSet, registry: ServiceRegistry): Map<string, ClusterSpec> {
  const out = new Map<string, ClusterSpec>()
  for (const svc of registry.services.values()) {
    const dr = findDestinationRule(config.destinationRules, svc.hostname)
    const subsets = [{ name: '', labels: {} as Record<string, string> }, ...(dr?.spec.subsets ?? []).map(s => ({ name: s.name, labels: s.labels ?? {} }))]
    for (const port of svc.ports) {
      for (const subset of subsets) {
        const policy = resolvePolicy(dr, port.number, subset.name)
        const endpoints = svc.endpoints
          .filter(ep => Object.entries(subset.labels).every(([k, v]) => ep.labels[k] === v))
          .map(ep => ({
            address: ep.address,
            port: ServiceRegistry.endpointPort(ep, port),
            labels: ep.labels,
            weight: ep.weight,
            locality: ep.locality,
            workloadName: ep.workloadName,
            namespace: ep.namespace
          }))
        const name = clusterName(port.number, subset.name, svc.hostname)
        out.set(name, {
          name,
          serviceHost: svc.hostname,
          serviceNamespace: svc.namespace,
          port: port.number,
          subset: subset.name,
          protocol: port.protocol,
          endpoints,
          lb: svc.resolution === 'NONE' ? { kind: 'PASSTHROUGH' } : lbSpec(policy.loadBalancer),
          hashKey: hashKeySource(policy.loadBalancer?.consistentHash),
          limits: connectionLimits(policy.connectionPool),
          outlier: outlierSpec(policy.outlierDetection)
        })
      }
    }
  }
  return out
}

// ------------------------------------------------------------------ routes

interface Binding {
  /** `mesh` or `ns/name` of a Gateway. */
  gateway: string
  port: number | null
}

class CompileContext {
  private readonly vsByName = new Map<string, VirtualServiceResource>()

  constructor (readonly config: ConfigSet, readonly registry: ServiceRegistry, readonly proxy: ProxyIdentity) {
    for (const vs of config.virtualServices) this.vsByName.set(`${ns(vs)}/${vs.metadata.name}`, vs)
  }

  // -------------------------------------------------------------- gateway role

  gatewayListeners (): HttpListenerSpec[] {
    const gateways = this.config.gateways.filter(g => selectorMatches(g.spec.selector, this.proxy.labels))
    const byPort = new Map<number, Array<{ gw: GatewayResource, hosts: string[] }>>()
    for (const gw of gateways) {
      for (const server of gw.spec.servers ?? []) {
        const protocol = portProtocol(server.port.protocol, server.port.name)
        if (!isHttpProtocol(protocol)) continue // HTTPS/TLS/TCP servers: not served yet (README)
        const list = byPort.get(server.port.number) ?? []
        list.push({ gw, hosts: server.hosts })
        byPort.set(server.port.number, list)
      }
    }
    const listeners: HttpListenerSpec[] = []
    for (const [port, servers] of [...byPort.entries()].sort((a, b) => a[0] - b[0])) {
      // domain -> routes, in VirtualService order (Istio merges VirtualServices per host).
      const vhosts = new Map<string, RouteEntry[]>()
      for (const vs of this.config.virtualServices) {
        const vsHosts = (vs.spec.hosts ?? []).map(h => fqdn(h, ns(vs)))
        if (vsHosts.length === 0) continue // delegate VirtualServices are only reached through a root
        for (const { gw, hosts: serverHosts } of servers) {
          const gwName = `${ns(gw)}/${gw.metadata.name}`
          if (!this.bindsGateway(vs, gwName)) continue
          const routes = this.compileHttpRoutes(vs, { gateway: gwName, port })
          if (routes.length === 0) continue
          for (const vsHost of vsHosts) {
            for (const raw of serverHosts) {
              const [hostNs, serverHost] = raw.includes('/') ? raw.split('/', 2) : ['*', raw]
              if (hostNs !== '*' && !(hostNs === '.' ? ns(vs) === ns(gw) : hostNs === ns(vs))) continue
              const domain = moreSpecific(vsHost, serverHost)
              if (domain === null) continue
              const list = vhosts.get(domain) ?? []
              if (list.length === 0) vhosts.set(domain, list)
              // The same VS may match several server hosts; add its routes once per domain.
              if (!list.some(r => r.virtualService === routes[0].virtualService)) list.push(...routes)
            }
          }
        }
      }
      const virtualHosts: VirtualHost[] = [...vhosts.entries()].map(([domain, routes]) => ({
        name: `${domain}:${port}`,
        domains: [domain, `${domain}:${port}`],
        routes
      }))
      listeners.push({
        name: `0.0.0.0_${port}`,
        address: '0.0.0.0',
        port,
        routeTable: routeTable(String(port), virtualHosts),
        gateways: [...new Set(servers.map(s => `${ns(s.gw)}/${s.gw.metadata.name}`))]
      })
    }
    return listeners
  }

  private bindsGateway (vs: VirtualServiceResource, gwName: string): boolean {
    const resolve = (g: string): string => resolveGatewayName(g, ns(vs))
    const top = (vs.spec.gateways ?? []).map(resolve)
    if (top.includes(gwName)) return true
    // A match-level `gateways` can bind a route to a gateway the VS does not list at the top.
    return (vs.spec.http ?? []).some(r => (r.match ?? []).some(m => (m.gateways ?? []).map(resolve).includes(gwName)))
  }

  // -------------------------------------------------------------- sidecar (mesh)

  meshRouteTables (): Map<number, RouteTable> {
    const ports = new Map<number, VirtualHost[]>()
    const covered = new Set<string>() // `host:port` already given a virtual host
    const meshVs = this.config.virtualServices.filter(vs => (vs.spec.hosts ?? []).length > 0 && this.bindsMesh(vs))
    for (const svc of this.registry.services.values()) {
      for (const port of svc.ports) {
        if (!isHttpProtocol(port.protocol) && port.protocol !== 'UNKNOWN') continue
        const list = ports.get(port.number) ?? []
        ports.set(port.number, list)
        const vss = meshVs.filter(vs => (vs.spec.hosts ?? []).some(h => hostMatchesPattern(svc.hostname, fqdn(h, ns(vs)))))
        let routes = vss.flatMap(vs => this.compileHttpRoutes(vs, { gateway: 'mesh', port: port.number }))
        if (routes.length === 0) routes = [singleDestinationRoute('default', clusterName(port.number, '', svc.hostname), svc.hostname, port.number, `${svc.hostname}:${port.number}/*`)]
        list.push({
          name: `${svc.hostname}:${port.number}`,
          domains: sidecarDomains(svc.hostname, port.number, this.proxy.namespace, [...svc.addresses]),
          routes
        })
        covered.add(`${svc.hostname}:${port.number}`)
      }
    }
    // VirtualService hosts that no ServiceEntry defines still get a virtual host on every port.
    for (const vs of meshVs) {
      for (const raw of vs.spec.hosts ?? []) {
        const host = fqdn(raw, ns(vs))
        if (this.registry.lookup(host) !== null) continue
        for (const [port, list] of ports) {
          if (covered.has(`${host}:${port}`)) continue
          const routes = this.compileHttpRoutes(vs, { gateway: 'mesh', port })
          if (routes.length === 0) continue
          list.push({ name: `${host}:${port}`, domains: [host, `${host}:${port}`], routes })
          covered.add(`${host}:${port}`)
        }
      }
    }
    const out = new Map<number, RouteTable>()
    for (const [port, vhosts] of ports) out.set(port, routeTable(String(port), vhosts))
    return out
  }

  meshTcpRoutes (): Map<string, TcpRouteAction> {
    const out = new Map<string, TcpRouteAction>()
    for (const vs of this.config.virtualServices) {
      if (!this.bindsMesh(vs)) continue
      for (const raw of vs.spec.hosts ?? []) {
        const host = fqdn(raw, ns(vs))
        const svc = this.registry.lookup(host)
        const ports = svc?.ports.map(p => p.number) ?? []
        for (const port of ports) {
          const key = `${host}:${port}`
          if (out.has(key)) continue // first VirtualService for a host wins, as in Istio
          const route = (vs.spec.tcp ?? []).find(r => (r.match ?? []).length === 0 ||
            (r.match ?? []).some(m => (m.port === undefined || m.port === port) &&
              (m.sourceLabels === undefined || Object.entries(m.sourceLabels).every(([k, v]) => this.proxy.labels[k] === v))))
          if (route === undefined || (route.route ?? []).length === 0) continue
          const dests = route.route ?? []
          out.set(key, {
            clusterNames: dests.map(d => this.resolveDestination(vs, d.destination).clusterName),
            picker: compileWeights(dests.map(d => d.weight ?? 0))
          })
        }
      }
    }
    return out
  }

  private bindsMesh (vs: VirtualServiceResource): boolean {
    const gws = vs.spec.gateways ?? []
    return gws.length === 0 || gws.includes('mesh') ||
      (vs.spec.http ?? []).some(r => (r.match ?? []).some(m => (m.gateways ?? []).includes('mesh')))
  }

  // -------------------------------------------------------------- HTTPRoute -> RouteEntry

  compileHttpRoutes (vs: VirtualServiceResource, binding: Binding, depth = 0): RouteEntry[] {
    const out: RouteEntry[] = []
    const vsName = `${ns(vs)}/${vs.metadata.name}`
    // A delegate is bound wherever its root is: Istio ignores a delegate's own `gateways`.
    const vsGateways = depth > 0 ? [binding.gateway] : vs.spec.gateways ?? []
    for (const route of vs.spec.http ?? []) {
      const blocks: Array<HTTPMatchRequest | null> = (route.match ?? []).length === 0 ? [null] : (route.match ?? [])
      for (const block of blocks) {
        if (block !== null && !staticMatch(block, {
          port: binding.port,
          proxyLabels: this.proxy.labels,
          proxyNamespace: this.proxy.namespace,
          gateway: binding.gateway,
          vsNamespace: ns(vs),
          vsGateways: vsGateways.length === 0 ? ['mesh'] : vsGateways
        })) continue
        if (block === null && depth === 0 && !this.routeBound(vs, binding.gateway)) continue
        if (route.delegate !== undefined) {
          if (depth > 0) continue // Istio supports one level of delegation
          const target = this.vsByName.get(`${route.delegate.namespace ?? ns(vs)}/${route.delegate.name ?? ''}`)
          if (target === undefined) continue
          for (const child of this.compileHttpRoutes(target, binding, depth + 1)) {
            out.push(mergeDelegate(child, block))
          }
          continue
        }
        out.push(this.compileRoute(vs, vsName, route, block, binding.port ?? 0))
      }
    }
    return out
  }

  private routeBound (vs: VirtualServiceResource, gateway: string): boolean {
    if (gateway === 'mesh') return this.bindsMesh(vs) && ((vs.spec.gateways ?? []).length === 0 || (vs.spec.gateways ?? []).includes('mesh'))
    const resolve = (g: string): string => resolveGatewayName(g, ns(vs))
    return (vs.spec.gateways ?? []).map(resolve).includes(gateway)
  }

  private compileRoute (vs: VirtualServiceResource, vsName: string, route: HTTPRoute, block: HTTPMatchRequest | null, port: number): RouteEntry {
    const action = this.compileAction(vs, route)
    return {
      name: route.name ?? '',
      virtualService: vsName,
      match: block !== null ? compileHttpMatch(block) : null,
      action,
      uriRewrite: compileUriRewrite(route, block),
      authorityRewrite: route.rewrite?.authority ?? null,
      headers: compileHeaders(route.headers),
      cors: CorsConfig.compile(route.corsPolicy),
      fault: FaultConfig.compile(route.fault),
      timeoutMs: parseDuration(route.timeout) ?? 0,
      retry: RetryPolicy.compile(route.retries),
      mirrors: this.compileMirrors(vs, route),
      operation: routeOperation(action, vs.metadata.name, port, block)
    }
  }

  private compileAction (vs: VirtualServiceResource, route: HTTPRoute): RouteAction {
    if (route.redirect !== undefined) {
      const r = route.redirect
      return {
        kind: 'redirect',
        redirect: {
          uri: r.uri ?? null,
          authority: r.authority ?? null,
          scheme: r.scheme ?? null,
          port: r.port ?? (r.derivePort === 'FROM_PROTOCOL_DEFAULT' ? 0 : null),
          code: r.redirectCode ?? 301
        }
      }
    }
    if (route.directResponse !== undefined) {
      const b = route.directResponse.body
      const body = b?.string !== undefined ? Buffer.from(b.string) : b?.bytes !== undefined ? Buffer.from(b.bytes, 'base64') : Buffer.alloc(0)
      return { kind: 'direct', status: route.directResponse.status, body }
    }
    const dests = route.route ?? []
    const destinations = dests.map(d => ({ ...this.resolveDestination(vs, d.destination), headers: compileHeaders(d.headers) }))
    return { kind: 'route', destinations, picker: compileWeights(dests.map(d => d.weight ?? 0)) }
  }

  resolveDestination (vs: VirtualServiceResource, d: Destination): Omit<WeightedDestination, 'headers'> {
    const host = fqdn(d.host, ns(vs))
    const svc = this.registry.lookup(host)
    let port = d.port?.number ?? 0
    if (port === 0 && svc !== null) port = ServiceRegistry.defaultPort(svc)?.number ?? 0
    const subset = d.subset ?? ''
    return { clusterName: clusterName(port, subset, host), host, subset, port }
  }

  private compileMirrors (vs: VirtualServiceResource, route: HTTPRoute): MirrorTarget[] | null {
    const out: MirrorTarget[] = []
    if (route.mirror !== undefined) {
      const percent = route.mirrorPercentage?.value ?? route.mirrorPercent ?? 100
      out.push({ clusterName: this.resolveDestination(vs, route.mirror).clusterName, percent })
    }
    for (const m of route.mirrors ?? []) {
      out.push({ clusterName: this.resolveDestination(vs, m.destination).clusterName, percent: m.percentage?.value ?? 100 })
    }
    return out.length === 0 ? null : out
  }
}

/** Istio's getRouteOperation (pilot route.go): the span name of requests on this route. */
function routeOperation (action: RouteAction, vsName: string, port: number, block: HTTPMatchRequest | null): string {
  const uri = block?.uri
  const path = uri?.prefix !== undefined ? `${uri.prefix}*` : uri?.exact ?? uri?.regex ?? '/*'
  if (action.kind === 'route' && action.destinations.length === 1) {
    const d = action.destinations[0]
    return `${d.host}:${d.port}${path}`
  }
  return `${vsName}:${port}${path}`
}

function compileUriRewrite (route: HTTPRoute, block: HTTPMatchRequest | null): UriRewrite | null {
  const rw = route.rewrite
  if (rw === undefined) return null
  if (rw.uriRegexRewrite?.match !== undefined) {
    return { kind: 'regex', pattern: compileRegex(rw.uriRegexRewrite.match), substitution: rw.uriRegexRewrite.rewrite ?? '' }
  }
  if (rw.uri === undefined) return null
  const uri = block?.uri
  if (uri?.prefix !== undefined) return { kind: 'prefix', matchedPrefix: uri.prefix, replacement: rw.uri }
  if (uri?.exact !== undefined || uri?.regex !== undefined) return { kind: 'full', replacement: rw.uri }
  // No uri match: Istio emits prefix_rewrite against the implicit "/" prefix.
  return { kind: 'prefix', matchedPrefix: '/', replacement: rw.uri }
}

/** A delegate's route under a root match block: the delegate's conditions, and the root's where it sets none. */
function mergeDelegate (child: RouteEntry, rootBlock: HTTPMatchRequest | null): RouteEntry {
  if (rootBlock === null) return child
  const rootMatch = compileHttpMatch(rootBlock)
  return { ...child, match: child.match === null ? rootMatch : allOf(rootMatch, child.match) }
}

function routeTable (name: string, virtualHosts: VirtualHost[]): RouteTable {
  return {
    name,
    virtualHosts,
    table: new VirtualHostTable(virtualHosts.map(v => ({ domains: [...v.domains], value: v })))
  }
}

function ns (r: { metadata: { namespace?: string } }): string {
  return r.metadata.namespace ?? 'default'
}

function selectorMatches (selector: Record<string, string> | undefined, labels: Readonly<Record<string, string>>): boolean {
  // With no --labels every Gateway applies (the CLI says so in its log).
  if (Object.keys(labels).length === 0) return true
  return Object.entries(selector ?? {}).every(([k, v]) => labels[k] === v)
}

/** The narrower of a VirtualService host and a Gateway server host, or null when they do not meet. */
function moreSpecific (vsHost: string, serverHost: string): string | null {
  if (hostMatchesPattern(vsHost, serverHost)) return vsHost
  if (hostMatchesPattern(serverHost, vsHost)) return serverHost
  return null
}
