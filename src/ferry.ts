// The running proxy: loads and watches config, compiles snapshots, keeps listeners in step with
// them, and serves the admin API. One instance per process.

import type { Server } from 'node:http'
import type { Server as NetServer } from 'node:net'
import { SidecarListener, type SidecarRouting } from './listener/sidecar-listener'
import { freePort, listenOn } from './listener/listen'
import { HealthServer } from './admin/health-server'
import { PASSTHROUGH_CLUSTER, inboundClusterName, inboundRoute, passthroughClusterSpec } from './forwarding/passthrough'
import { VirtualHostTable } from './routing/virtual-host-table'
import type { Cluster } from './upstream/cluster'
import { ServiceRegistry, type Protocol } from './registry/service-registry'
import { watch, type FSWatcher } from 'node:fs'
import { dirname } from 'node:path'
import { loadConfig, formatDiagnostic } from './config/load'
import type { Diagnostic } from './config/types'
import { compileSnapshot, type ProxyIdentity } from './model/compile'
import type { RouteTable, Snapshot } from './model/snapshot'
import { ClusterManager } from './upstream/cluster-manager'
import {
  StatsStore, encodePeerMetadata, parsePeerMetadata, workloadIdentity,
  type IstioRequestRecorder, type PeerIdentity, type WorkloadIdentity
} from './observability/stats'
import { istioLabels } from './observability/istio-labels'
import { Tracing, NULL_TRACING, type RequestTracing } from './observability/tracing'
import { AccessLog, type AccessLogFormat } from './observability/access-log'
import { Logger } from './observability/logger'
import { createHttpServer, DEFAULT_LISTENER_OPTIONS, type HttpListenerOptions } from './listener/http-listener'
import { SYSTEM_CLOCK, type Clock, type ConnectionTarget, type ListenerContext, type ListenerKind, type ProxyContext, type SnapshotHolder } from './forwarding/context'
import type { RequestView } from './routing/http-match'
import { splitAuthority } from './routing/host-names'
import { AdminServer } from './admin/admin-server'

export interface FerryOptions {
  configPaths: string[]
  role: 'gateway' | 'sidecar'
  namespace: string
  labels: Record<string, string>
  /** `host:port` of the admin listener; null turns it off. */
  admin: string | null
  accessLog: string | null
  accessLogFormat: AccessLogFormat
  /** Address gateway listeners bind (0.0.0.0 in a pod; 127.0.0.1 in tests). */
  gatewayAddress: string
  zipkin: string | null
  samplingPercent: number
  logger: Logger
  /** Downstream timeouts; unset fields keep DEFAULT_LISTENER_OPTIONS. */
  listener?: Partial<Pick<HttpListenerOptions, 'keepAliveTimeoutMs' | 'headersTimeoutMs'>>
  clock?: Clock
  random?: () => number
  /** Milliseconds to wait after a file change before reloading (editors write in bursts). */
  reloadDebounceMs?: number
  /** Sidecar role ports (Istio's defaults: 15001, 15006, 15021, 15090); 0 picks a free port, -1 turns one off. */
  sidecar?: Partial<SidecarPorts>
  /** Sidecar role: what happens to destinations the registry does not know. */
  outboundTrafficPolicy?: 'ALLOW_ANY' | 'REGISTRY_ONLY'
  /** Address the sidecar's capture listeners bind (0.0.0.0 in a pod). */
  sidecarAddress?: string
}

export interface SidecarPorts {
  outbound: number
  inbound: number
  health: number
  prometheus: number
}

export const DEFAULT_SIDECAR_PORTS: SidecarPorts = { outbound: 15001, inbound: 15006, health: 15021, prometheus: 15090 }

export class ConfigError extends Error {
  constructor (readonly diagnostics: readonly Diagnostic[]) {
    super(`invalid configuration:\n${diagnostics.filter(d => d.severity === 'error').map(formatDiagnostic).join('\n')}`)
  }
}

interface RunningListener {
  readonly port: number
  /** The socket server that accepts (an http.Server, or the net.Server of a capture listener). */
  readonly server: NetServer
  /** The HTTP server requests go through (the same object at a gateway). */
  readonly http: Server
  readonly ctx: ListenerContext
}

export class Ferry {
  readonly stats = new StatsStore()
  readonly clusters: ClusterManager
  readonly proxy: ProxyContext
  readonly log: Logger
  private readonly snapshots: SnapshotHolder
  private readonly listeners = new Map<number, RunningListener>()
  private admin: AdminServer | null = null
  private health: HealthServer | null = null
  private prometheus: HealthServer | null = null
  private readonly inboundTables = new Map<number, RouteTable>()
  readonly sidecarPorts: SidecarPorts
  private watchers: FSWatcher[] = []
  private reloadTimer: NodeJS.Timeout | null = null
  private version = 0
  private ready = false
  private readonly identity: ProxyIdentity
  private readonly istioRecorders = new WeakMap<Snapshot, Map<string, IstioRequestRecorder>>()
  private readonly accessLogWriter: AccessLog | null
  private readonly tracing: RequestTracing
  private readonly nodeId: string
  /** This workload's identity (Istio's source_* labels outbound, destination_* inbound). */
  private readonly self: WorkloadIdentity
  private readonly inboundRecorders = new Map<string, IstioRequestRecorder>()

  constructor (readonly opts: FerryOptions) {
    this.log = opts.logger
    this.identity = { role: opts.role, namespace: opts.namespace, labels: opts.labels }
    const random = opts.random ?? Math.random
    this.clusters = new ClusterManager(this.stats, random)
    this.accessLogWriter = opts.accessLog === null
      ? null
      : new AccessLog(opts.accessLog, opts.accessLogFormat, err => this.log.error(`${err.message}; access logging stopped`))
    const podName = process.env.POD_NAME ?? process.env.HOSTNAME ?? 'ferry'
    this.nodeId = `${opts.role === 'gateway' ? 'router' : 'sidecar'}~${process.env.INSTANCE_IP ?? '127.0.0.1'}~${podName}.${opts.namespace}~${opts.namespace}.svc.cluster.local`
    this.tracing = opts.zipkin === null && opts.samplingPercent <= 0
      ? NULL_TRACING
      : new Tracing({
        zipkinUrl: opts.zipkin,
        samplingPercent: opts.samplingPercent,
        serviceName: opts.labels.app ?? `${opts.role === 'gateway' ? 'istio-ingressgateway' : podName}.${opts.namespace}`,
        nodeId: this.nodeId
      })
    // Envoy has tracing.zipkin.* only when a Zipkin tracer is configured; so does Ferry.
    if (opts.zipkin !== null) this.stats.zipkinTracer(this.tracing.stats)
    this.self = workloadIdentity({ labels: opts.labels, namespace: opts.namespace, podName: process.env.POD_NAME })
    this.snapshots = { current: this.emptySnapshot() }
    this.proxy = {
      snapshots: this.snapshots,
      stats: this.stats,
      tracing: this.tracing,
      accessLog: this.accessLogWriter,
      random,
      clock: opts.clock ?? SYSTEM_CLOCK,
      nodeId: this.nodeId,
      peerMetadata: opts.role === 'sidecar' ? encodePeerMetadata({ ...this.self, name: podName, labels: opts.labels }) : null,
      lifecycle: { draining: false }
    }
    this.sidecarPorts = { ...DEFAULT_SIDECAR_PORTS, ...opts.sidecar }
  }

  get snapshot (): Snapshot {
    return this.snapshots.current
  }

  /** The admin listener's port (useful with `--admin 127.0.0.1:0`), 0 when off. */
  get adminPort (): number {
    return this.admin?.port ?? 0
  }

  get isReady (): boolean {
    return this.ready
  }

  /** Loads config (refusing to start on errors), binds listeners and the admin API. */
  async start (): Promise<void> {
    this.accessLogWriter?.open()
    const result = loadConfig(this.opts.configPaths, { namespace: this.opts.namespace })
    this.report(result.diagnostics)
    if (result.diagnostics.some(d => d.severity === 'error')) throw new ConfigError(result.diagnostics)
    if (this.opts.role === 'gateway' && Object.keys(this.opts.labels).length === 0) {
      this.log.info('no --labels given: every Gateway applies to this proxy')
    }
    this.install(compileSnapshot(result.config, result.diagnostics, this.identity, ++this.version))
    if (this.opts.admin !== null) {
      this.admin = new AdminServer(this)
      await this.admin.listen(this.opts.admin)
    }
    await this.reconcileListeners()
    if (this.opts.role === 'sidecar') await this.startSidecar()
    this.watch(result.files)
    this.ready = true
    this.stats.server.state = 'live'
    this.log.info(`ready: config version ${this.version}, ${this.listeners.size} listener(s)`)
  }

  private emptySnapshot (): Snapshot {
    const compiled = compileSnapshot({ gateways: [], virtualServices: [], destinationRules: [], serviceEntries: [], workloadEntries: [] }, [], this.identity, 0)
    return { ...compiled, clusters: new Map() }
  }

  private install (compiled: ReturnType<typeof compileSnapshot>): void {
    const clusters = this.clusters.update(compiled.clusterSpecs)
    this.snapshots.current = { ...compiled, clusters }
  }

  private report (diagnostics: readonly Diagnostic[]): void {
    for (const d of diagnostics) {
      if (d.severity === 'error') this.log.error(formatDiagnostic(d))
      else this.log.warn(formatDiagnostic(d))
    }
  }

  // ---------------------------------------------------------------- reload

  private watch (files: string[]): void {
    // Watch the directories: editors and ConfigMap updates replace files rather than write them.
    const dirs = new Set<string>()
    for (const p of this.opts.configPaths) dirs.add(p)
    for (const f of files) dirs.add(dirname(f))
    for (const d of dirs) {
      try {
        const w = watch(d, { persistent: false }, (_event, name) => {
          // Only config files (and ConfigMap's `..data` symlink swap) matter; a log file written
          // next to the config must not cause reloads.
          const f = typeof name === 'string' ? name : ''
          if (f === '' || f.startsWith('..') || /\.(ya?ml|json)$/i.test(f) || files.some(x => x.endsWith(`/${f}`))) this.scheduleReload()
        })
        w.on('error', () => {})
        this.watchers.push(w)
      } catch {
        this.log.warn(`cannot watch ${d}: hot reload is off for it`)
      }
    }
  }

  private scheduleReload (): void {
    if (this.reloadTimer !== null) clearTimeout(this.reloadTimer)
    this.reloadTimer = setTimeout(() => {
      this.reloadTimer = null
      void this.reload()
    }, this.opts.reloadDebounceMs ?? 100)
  }

  /** Loads the config again; a valid one replaces the snapshot, an invalid one is logged and ignored. */
  async reload (): Promise<{ applied: boolean, diagnostics: readonly Diagnostic[] }> {
    const result = loadConfig(this.opts.configPaths, { namespace: this.opts.namespace })
    if (result.diagnostics.some(d => d.severity === 'error')) {
      this.log.error(`config reload rejected; still serving version ${this.version}`)
      this.report(result.diagnostics)
      return { applied: false, diagnostics: result.diagnostics }
    }
    this.install(compileSnapshot(result.config, result.diagnostics, this.identity, ++this.version))
    await this.reconcileListeners()
    this.log.info(`config reloaded: version ${this.version}`)
    return { applied: true, diagnostics: result.diagnostics }
  }

  // ---------------------------------------------------------------- listeners

  private async reconcileListeners (): Promise<void> {
    if (this.opts.role !== 'gateway') return
    const wanted = new Set(this.snapshot.gatewayListeners.map(l => l.port))
    for (const [port, l] of this.listeners) {
      if (!wanted.has(port)) {
        this.listeners.delete(port)
        l.server.close()
        this.log.info(`listener ${this.opts.gatewayAddress}:${port} removed`)
      }
    }
    for (const spec of this.snapshot.gatewayListeners) {
      if (this.listeners.has(spec.port)) continue
      await this.openListener('gateway', spec.port, spec.name, (s, port) => s.gatewayListeners.find(l => l.port === port)?.routeTable ?? null)
    }
  }

  private listenerContext (kind: ListenerKind, port: number, name: string, parts: Pick<ListenerContext, 'routeTable' | 'target' | 'unmatched' | 'cluster'>): ListenerContext {
    return {
      proxy: this.proxy,
      kind,
      name,
      port,
      hcm: this.stats.httpConnManager(`${kind === 'inbound' ? 'inbound' : 'outbound'}_0.0.0.0_${port}`),
      listener: this.stats.listener(`0.0.0.0_${port}`),
      ...parts,
      istioRecorder: (clusterName, snapshot, req) => kind === 'inbound'
        ? this.inboundRecorder(req.headers['x-envoy-peer-metadata'])
        : this.istioRecorder(clusterName, snapshot)
    }
  }

  private async openListener (kind: ListenerKind, port: number, name: string, table: (s: Snapshot, port: number) => RouteTable | null): Promise<void> {
    const ctx = this.listenerContext(kind, port, name, {
      routeTable: table,
      target: () => null,
      unmatched: 'none',
      cluster: (s, n) => s.clusters.get(n) ?? null
    })
    const server = createHttpServer(ctx, { ...DEFAULT_LISTENER_OPTIONS, ...this.opts.listener, acceptsConnections: true })
    await listenOn(server, port, this.opts.gatewayAddress).catch((err: Error) => {
      this.log.error(`cannot bind ${this.opts.gatewayAddress}:${port}: ${err.message}`)
      throw err
    })
    this.listeners.set(port, { port, server, http: server, ctx })
    this.log.info(`listener ${this.opts.gatewayAddress}:${port} (${kind}) bound`)
  }

  // ---------------------------------------------------------------- sidecar role

  private async startSidecar (): Promise<void> {
    const ports = this.sidecarPorts
    const address = this.opts.sidecarAddress ?? '0.0.0.0'
    // Port 0 (tests): pick the ports now, because stat names and contexts carry the port.
    if (ports.outbound === 0) ports.outbound = await freePort(address)
    if (ports.inbound === 0) ports.inbound = await freePort(address)
    const allowAny = (this.opts.outboundTrafficPolicy ?? 'ALLOW_ANY') === 'ALLOW_ANY'
    let outbound: SidecarListener | null = null
    const outboundCtx = this.listenerContext('outbound', ports.outbound, `virtualOutbound`, {
      routeTable: (s, port) => s.meshRouteTables.get(port) ?? null,
      target: (req, view) => outbound?.targetOf(req.socket as import('node:net').Socket) ?? authorityTarget(view),
      unmatched: allowAny ? 'passthrough' : 'reject',
      cluster: (s, n) => s.clusters.get(n) ?? (n === PASSTHROUGH_CLUSTER && allowAny ? this.passthroughCluster() : null)
    })
    const routing: SidecarRouting = {
      tcpCluster: (s, target) => this.tcpClusterFor(s, target),
      protocol: (s, target) => this.protocolOf(s, target),
      passthrough: () => (allowAny ? this.passthroughCluster() : null),
      tcpRecorder: () => null,
      localAddress: null
    }
    const outboundHttp = createHttpServer(outboundCtx, { ...DEFAULT_LISTENER_OPTIONS, ...this.opts.listener, acceptsConnections: false })
    outbound = new SidecarListener(outboundCtx, outboundHttp, routing, m => this.log.warn(m))
    await this.bindSidecar(outbound, outboundHttp, ports.outbound, address, 'outbound')

    let inbound: SidecarListener | null = null
    const inboundCtx = this.listenerContext('inbound', ports.inbound, 'virtualInbound', {
      routeTable: (_s, port) => this.inboundTable(port),
      target: (req) => inbound?.targetOf(req.socket as import('node:net').Socket) ?? null,
      unmatched: 'none',
      cluster: (_s, n) => this.inboundCluster(n)
    })
    const inboundRouting: SidecarRouting = {
      tcpCluster: (_s, target) => this.inboundCluster(inboundClusterName(target.port)),
      // Inbound has no registry of the app's ports: HTTP is recognised by sniffing.
      protocol: () => 'UNKNOWN',
      passthrough: () => null,
      tcpRecorder: () => null,
      // The same source as the HTTP inbound cluster (see inboundCluster).
      localAddress: '127.0.0.6'
    }
    const inboundHttp = createHttpServer(inboundCtx, { ...DEFAULT_LISTENER_OPTIONS, ...this.opts.listener, acceptsConnections: false })
    inbound = new SidecarListener(inboundCtx, inboundHttp, inboundRouting, m => this.log.warn(m))
    await this.bindSidecar(inbound, inboundHttp, ports.inbound, address, 'inbound')

    if (ports.health >= 0) {
      this.health = new HealthServer(() => this.ready, this.stats, 'health')
      await this.health.listen(ports.health, address)
    }
    if (ports.prometheus >= 0) {
      this.prometheus = new HealthServer(() => this.ready, this.stats, 'prometheus')
      await this.prometheus.listen(ports.prometheus, address)
    }
  }

  private async bindSidecar (l: SidecarListener, http: Server, port: number, address: string, kind: ListenerKind): Promise<void> {
    await l.listen(port, address)
    const bound = (l.server.address() as import('node:net').AddressInfo).port
    if (kind === 'outbound') this.sidecarPorts.outbound = bound
    else this.sidecarPorts.inbound = bound
    this.listeners.set(bound, { port: bound, server: l.server, http, ctx: l.ctx })
    this.log.info(`${kind} capture listener ${address}:${bound} bound`)
  }

  get healthPort (): number {
    return this.health?.port ?? 0
  }

  get prometheusPort (): number {
    return this.prometheus?.port ?? 0
  }

  private passthroughCluster (): Cluster {
    return this.clusters.dynamic(passthroughClusterSpec(PASSTHROUGH_CLUSTER, 0, null))
  }

  private inboundCluster (name: string): Cluster | null {
    if (!name.startsWith('inbound|')) return null
    const port = Number(name.split('|')[1])
    // Inbound traffic reaches the app on localhost from 127.0.0.6, as Istio's sidecar does, so
    // the iptables rules recognise it as the proxy's own and do not capture it again.
    return this.clusters.dynamic(passthroughClusterSpec(name, port, '127.0.0.1'), '127.0.0.6')
  }

  private inboundTable (port: number): RouteTable {
    let t = this.inboundTables.get(port)
    if (t === undefined) {
      const vhost = { name: `inbound|http|${port}`, domains: ['*'], routes: [inboundRoute(port)] }
      t = { name: `inbound|${port}`, virtualHosts: [vhost], table: new VirtualHostTable([{ domains: ['*'], value: vhost }]) }
      this.inboundTables.set(port, t)
    }
    return t
  }

  /** Services behind a VIP (ServiceEntry `addresses`) that have this port. */
  private serviceAt (s: Snapshot, target: ConnectionTarget): { host: string, protocol: Protocol } | null {
    for (const svc of s.registry.byAddress.get(target.address) ?? []) {
      const p = ServiceRegistry.port(svc, target.port)
      if (p !== null) return { host: svc.hostname, protocol: p.protocol }
    }
    return null
  }

  private protocolOf (s: Snapshot, target: ConnectionTarget): Protocol {
    return this.serviceAt(s, target)?.protocol ?? 'UNKNOWN'
  }

  private tcpClusterFor (s: Snapshot, target: ConnectionTarget): Cluster | null {
    const svc = this.serviceAt(s, target)
    if (svc === null) return null
    const route = s.meshTcpRoutes.get(`${svc.host}:${target.port}`)
    const name = route !== undefined
      ? route.clusterNames[route.picker.pick(this.proxy.random())]
      : `outbound|${target.port}||${svc.host}`
    return s.clusters.get(name) ?? null
  }

  listenerAddresses (): Array<{ name: string, address: string, port: number }> {
    return [...this.listeners.values()].map(l => {
      const a = l.server.address()
      return { name: l.ctx.name, address: typeof a === 'object' && a !== null ? a.address : this.opts.gatewayAddress, port: l.port }
    })
  }

  /** Istio standard metrics handle for requests to a cluster, resolved once per snapshot. */
  private istioRecorder (clusterName: string, snapshot: Snapshot): IstioRequestRecorder | null {
    let bySnapshot = this.istioRecorders.get(snapshot)
    if (bySnapshot === undefined) {
      bySnapshot = new Map()
      this.istioRecorders.set(snapshot, bySnapshot)
    }
    let rec = bySnapshot.get(clusterName)
    if (rec === undefined) {
      const spec = snapshot.clusterSpecs.get(clusterName)
      const self = this.self
      const endpoint = spec?.endpoints[0]
      const labels = endpoint?.labels ?? {}
      const svcName = spec?.serviceHost.split('.')[0] ?? 'unknown'
      // The destination as Istio fills it from endpoint metadata: its workload, labels and namespace.
      const destination: WorkloadIdentity = {
        workload: endpoint?.workloadName ?? labels.app ?? 'unknown',
        namespace: spec?.serviceNamespace ?? 'unknown',
        principal: 'unknown',
        app: labels.app ?? 'unknown',
        version: labels.version ?? 'unknown',
        canonicalService: labels['service.istio.io/canonical-name'] ?? labels.app ?? svcName,
        canonicalRevision: labels['service.istio.io/canonical-revision'] ?? labels.version ?? 'latest',
        cluster: self.cluster
      }
      const service = spec === undefined ? null : { host: spec.serviceHost, name: svcName, namespace: spec.serviceNamespace }
      rec = this.stats.istio.handle(istioLabels('source', self, destination, service, 'unknown'))
      bySnapshot.set(clusterName, rec)
    }
    return rec
  }

  /**
   * reporter="destination" metrics on the inbound side: the destination is this workload; the
   * source is whoever the caller's proxy says it is in `x-envoy-peer-metadata`, else unknown.
   * Recorders are cached by header value (bounded: a header is one per calling workload).
   */
  private inboundRecorder (header: string | string[] | undefined): IstioRequestRecorder {
    const value = typeof header === 'string' ? header : ''
    const cached = this.inboundRecorders.get(value)
    if (cached !== undefined) return cached
    const peer: PeerIdentity | null = value === '' ? null : parsePeerMetadata(value)
    const self = this.self
    const cs = self.canonicalService
    const service = { host: cs === 'unknown' ? cs : `${cs}.${self.namespace}.svc.cluster.local`, name: cs, namespace: self.namespace }
    const recorder = this.stats.istio.handle(istioLabels('destination', peer, self, service, 'none'))
    if (this.inboundRecorders.size < 1000) this.inboundRecorders.set(value, recorder)
    return recorder
  }

  // ---------------------------------------------------------------- shutdown

  /**
   * Drains and stops: readiness turns 503, listeners stop accepting, idle keep-alive
   * connections are closed, in-flight requests finish (the caller bounds the wait with
   * --drain-duration), then everything is released.
   */
  async stop (): Promise<void> {
    this.ready = false
    this.proxy.lifecycle.draining = true
    this.stats.server.state = 'draining'
    for (const w of this.watchers) w.close()
    this.watchers = []
    if (this.reloadTimer !== null) clearTimeout(this.reloadTimer)
    const running = [...this.listeners.values()]
    this.listeners.clear()
    const closing = running.map(l => new Promise<void>(resolve => {
      l.server.close(() => resolve())
    }))
    // Keep closing connections that fall idle until every listener has let go.
    const sweep = setInterval(() => { for (const l of running) l.http.closeIdleConnections() }, 25)
    for (const l of running) l.http.closeIdleConnections()
    await Promise.all(closing)
    clearInterval(sweep)
    await this.admin?.close()
    await this.health?.close()
    await this.prometheus?.close()
    this.clusters.close()
    await this.tracing.shutdown()
    await this.accessLogWriter?.close()
  }
}

/** Explicit-proxy / Host-routed requests: the destination is what the request names. */
function authorityTarget (view: RequestView): ConnectionTarget | null {
  if (view.authority === '') return null
  const { host, port } = splitAuthority(view.authority)
  return { address: host.replace(/^\[|\]$/g, ''), port: port !== null && port > 0 ? port : 80 }
}
