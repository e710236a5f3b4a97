// The running proxy: loads and watches config, compiles snapshots, keeps listeners in step with
// them, and serves the admin API. One instance per process.

import type { Server } from 'node:http'
import { watch, type FSWatcher } from 'node:fs'
import { dirname } from 'node:path'
import { loadConfig, formatDiagnostic } from './config/load'
import type { Diagnostic } from './config/types'
import { compileSnapshot, type ProxyIdentity } from './model/compile'
import type { RouteTable, Snapshot } from './model/snapshot'
import { ClusterManager } from './upstream/cluster-manager'
import { StatsStore, workloadIdentity, type IstioRequestRecorder, type IstioStaticLabels } from './observability/stats'
import { Tracing, NULL_TRACING, type RequestTracing } from './observability/tracing'
import { AccessLog, type AccessLogFormat } from './observability/access-log'
import { Logger } from './observability/logger'
import { createHttpServer, DEFAULT_LISTENER_OPTIONS, type HttpListenerOptions } from './listener/http-listener'
import { SYSTEM_CLOCK, type Clock, type ListenerContext, type ListenerKind, type ProxyContext, type SnapshotHolder } from './forwarding/context'
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
  listener?: HttpListenerOptions
  clock?: Clock
  random?: () => number
  /** Milliseconds to wait after a file change before reloading (editors write in bursts). */
  reloadDebounceMs?: number
}

export class ConfigError extends Error {
  constructor (readonly diagnostics: readonly Diagnostic[]) {
    super(`invalid configuration:\n${diagnostics.filter(d => d.severity === 'error').map(formatDiagnostic).join('\n')}`)
  }
}

interface RunningListener {
  readonly port: number
  readonly server: Server
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
  private watchers: FSWatcher[] = []
  private reloadTimer: NodeJS.Timeout | null = null
  private version = 0
  private ready = false
  private readonly identity: ProxyIdentity
  private readonly istioRecorders = new WeakMap<Snapshot, Map<string, IstioRequestRecorder>>()
  private readonly accessLogWriter: AccessLog | null
  private readonly tracing: RequestTracing
  private readonly nodeId: string

  constructor (readonly opts: FerryOptions) {
    this.log = opts.logger
    this.identity = { role: opts.role, namespace: opts.namespace, labels: opts.labels }
    const random = opts.random ?? Math.random
    this.clusters = new ClusterManager(this.stats, random)
    this.accessLogWriter = opts.accessLog === null ? null : new AccessLog(opts.accessLog, opts.accessLogFormat)
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
    this.snapshots = { current: this.emptySnapshot() }
    this.proxy = {
      snapshots: this.snapshots,
      stats: this.stats,
      tracing: this.tracing,
      accessLog: this.accessLogWriter,
      random,
      clock: opts.clock ?? SYSTEM_CLOCK,
      nodeId: this.nodeId
    }
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
    this.watch(result.files)
    this.ready = true
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

  private async openListener (kind: ListenerKind, port: number, name: string, table: (s: Snapshot, port: number) => RouteTable | null): Promise<void> {
    const ctx: ListenerContext = {
      proxy: this.proxy,
      kind,
      name,
      port,
      hcm: this.stats.httpConnManager(`${kind === 'inbound' ? 'inbound' : 'outbound'}_0.0.0.0_${port}`),
      routeTable: table,
      istioRecorder: (clusterName, snapshot) => this.istioRecorder(clusterName, snapshot, kind)
    }
    const server = createHttpServer(ctx, this.opts.listener ?? DEFAULT_LISTENER_OPTIONS)
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject)
      server.listen(port, this.opts.gatewayAddress, () => {
        server.off('error', reject)
        resolve()
      })
    }).catch((err: Error) => {
      this.log.error(`cannot bind ${this.opts.gatewayAddress}:${port}: ${err.message}`)
      throw err
    })
    this.listeners.set(port, { port, server, ctx })
    this.log.info(`listener ${this.opts.gatewayAddress}:${port} (${kind}) bound`)
  }

  listenerAddresses (): Array<{ name: string, address: string, port: number }> {
    return [...this.listeners.values()].map(l => {
      const a = l.server.address()
      return { name: l.ctx.name, address: typeof a === 'object' && a !== null ? a.address : this.opts.gatewayAddress, port: l.port }
    })
  }

  /** Istio standard metrics handle for requests to a cluster, resolved once per snapshot. */
  private istioRecorder (clusterName: string, snapshot: Snapshot, kind: ListenerKind): IstioRequestRecorder | null {
    let bySnapshot = this.istioRecorders.get(snapshot)
    if (bySnapshot === undefined) {
      bySnapshot = new Map()
      this.istioRecorders.set(snapshot, bySnapshot)
    }
    let rec = bySnapshot.get(clusterName)
    if (rec === undefined) {
      const spec = snapshot.clusterSpecs.get(clusterName)
      const self = workloadIdentity({ labels: this.opts.labels, namespace: this.opts.namespace, podName: process.env.POD_NAME })
      const dest = spec?.endpoints[0]
      const destLabels = dest?.labels ?? {}
      const svcName = spec?.serviceHost.split('.')[0] ?? 'unknown'
      const labels: IstioStaticLabels = {
        reporter: kind === 'inbound' ? 'destination' : 'source',
        source_workload: self.workload,
        source_workload_namespace: self.namespace,
        source_principal: 'unknown',
        source_app: self.app,
        source_version: self.version,
        source_canonical_service: self.canonicalService,
        source_canonical_revision: self.canonicalRevision,
        source_cluster: self.cluster,
        destination_workload: dest?.workloadName ?? destLabels.app ?? 'unknown',
        destination_workload_namespace: spec?.serviceNamespace ?? 'unknown',
        destination_principal: 'unknown',
        destination_app: destLabels.app ?? 'unknown',
        destination_version: destLabels.version ?? 'unknown',
        destination_service: spec?.serviceHost ?? 'unknown',
        destination_service_name: svcName,
        destination_service_namespace: spec?.serviceNamespace ?? 'unknown',
        destination_canonical_service: destLabels['service.istio.io/canonical-name'] ?? destLabels.app ?? svcName,
        destination_canonical_revision: destLabels['service.istio.io/canonical-revision'] ?? destLabels.version ?? 'latest',
        destination_cluster: self.cluster,
        request_protocol: 'http',
        connection_security_policy: 'unknown'
      }
      rec = this.stats.istio.handle(labels)
      bySnapshot.set(clusterName, rec)
    }
    return rec
  }

  // ---------------------------------------------------------------- shutdown

  async stop (): Promise<void> {
    this.ready = false
    for (const w of this.watchers) w.close()
    this.watchers = []
    if (this.reloadTimer !== null) clearTimeout(this.reloadTimer)
    const closing = [...this.listeners.values()].map(l => new Promise<void>(resolve => {
      l.server.close(() => resolve())
      l.server.closeIdleConnections()
    }))
    this.listeners.clear()
    await Promise.all(closing)
    await this.admin?.close()
    this.clusters.close()
    await this.tracing.shutdown()
    await this.accessLogWriter?.close()
  }
}
