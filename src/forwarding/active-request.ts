// One downstream request from route selection to the last byte (Envoy's router filter plus the
// parts of the HTTP connection manager that act per request). Each upstream try is its own
// UpstreamAttempt; the retry decision is RetryState's; every local answer comes from the
// LocalReply registry.

import type { IncomingMessage, ServerResponse } from 'node:http'
import { randomUUID } from 'node:crypto'
import type { Dispatcher } from 'undici'
import type { RouteEntry, Snapshot, WeightedDestination } from '../model/snapshot'
import type { Cluster } from '../upstream/cluster'
import type { Host } from '../upstream/host'
import { firstRoute, type RequestView } from '../routing/http-match'
import { splitAuthority } from '../routing/host-names'
import type { HeaderMap } from '../filters/header-mutation'
import { Tags, type ProxySpan } from '../observability/tracing'
import { HOP_BY_HOP, connectionTokens, forwardableHeaders } from './hop-by-hop'
import { LocalReply, classifyUpstreamError, type LocalReplySpec, type ResponseFlag } from './local-reply'
import { RetryState, AttemptOutcome, RetryDecision } from './retry-state'
import { UpstreamAttempt } from './upstream-attempt'
import type { ConnectionTarget, ListenerContext } from './context'
import { passthroughRoute } from './passthrough'
import { applyUriRewrite, redirectLocation } from './rewrite'
import { hashKeyFor } from './hash-key'
import { sendMirrors } from './mirror'

/** Bodies up to this size are kept in memory so a retry (or a mirror) can replay them. */
export const RETRY_BODY_LIMIT = 64 * 1024

const SERVER_NAME = 'istio-envoy'

export class ActiveRequest {
  readonly startMs: number
  readonly startTime: Date
  readonly snapshot: Snapshot
  readonly view: RequestView
  requestId = ''
  route: RouteEntry | null = null
  /** x-forwarded-for with the client's address appended (Envoy's use_remote_address), set in run(). */
  forwardedFor = ''
  /** The :path sent upstream when a rewrite changed it. */
  upstreamPath: string | null = null
  target: ConnectionTarget | null = null
  destination: WeightedDestination | null = null
  cluster: Cluster | null = null
  upstreamHost: Host | null = null
  attempt: UpstreamAttempt | null = null
  retry: RetryState | null = null
  attempted: Set<Host> | null = null
  attemptCount = 0
  upstreamHeaders: HeaderMap = {}
  /** null: no body; Buffer: buffered (replayable); IncomingMessage: streamed (not replayable). */
  body: Buffer | IncomingMessage | null = null
  flags: ResponseFlag[] = []
  responseCode = 0
  responseDetails = '-'
  responseStarted = false
  upstreamServiceTimeMs = -1
  upstreamStartMs = 0
  bytesReceived = 0
  bytesSent = 0
  done = false
  span: ProxySpan | null = null
  private routeTimer: NodeJS.Timeout | null = null
  private delayTimer: NodeJS.Timeout | null = null
  private backoffTimer: NodeJS.Timeout | null = null
  /**
   * A retry holds the cluster's max_retries resource from the moment it is scheduled until the
   * retried attempt's outcome is known (Envoy's RetryStateImpl::resetRetry), not only while it
   * backs off; that is what makes `http.maxRetries` bite under concurrency.
   */
  private retryHeld = false
  private faultActive = false

  constructor (
    readonly ctx: ListenerContext,
    readonly req: IncomingMessage,
    readonly res: ServerResponse,
    view: RequestView
  ) {
    const proxy = ctx.proxy
    this.snapshot = proxy.snapshots.current
    this.startMs = proxy.clock.now()
    this.startTime = new Date()
    this.view = view
    res.once('close', this.onDownstreamClose)
  }

  // ------------------------------------------------------------------ start

  run (): void {
    const { ctx, req, view } = this
    const hcm = ctx.hcm
    hcm.downstream_rq_total.inc()
    hcm.downstream_rq_http1_total.inc()
    hcm.downstream_rq_active.inc()

    // The connection manager appends the client address before routing, so local replies and
    // the access log see the same x-forwarded-for the upstream would.
    const remote = req.socket.remoteAddress ?? ''
    const xff = req.headers['x-forwarded-for']
    this.forwardedFor = xff === undefined || xff === '' ? remote : `${xff}, ${remote}`
    const existingId = req.headers['x-request-id']
    this.requestId = typeof existingId === 'string' && existingId !== '' ? existingId : randomUUID()
    // Named for the route once one is chosen (RouteEntry.operation); until then, as Envoy names
    // a request no route decorates: the host and port it was sent to.
    this.span = ctx.proxy.tracing.startSpan(req.headers, ctx.kind === 'outbound' ? 'CLIENT' : 'SERVER', `${splitAuthority(view.authority).host}:${ctx.port}/*`)

    const target = ctx.target(req, view)
    this.target = target
    const table = ctx.routeTable(this.snapshot, target?.port ?? ctx.port)
    const vhost = table?.table.lookup(view.authority) ?? null
    if (vhost === null) {
      if (ctx.unmatched === 'passthrough' && target !== null) {
        // ALLOW_ANY: a destination the mesh does not know goes where the client sent it.
        this.route = passthroughRoute(target)
        this.forward()
        return
      }
      if (ctx.unmatched === 'reject') {
        this.localReply(LocalReply.registryOnly)
        return
      }
      hcm.no_route.inc()
      this.localReply(LocalReply.noRoute)
      return
    }
    const route = firstRoute(vhost.routes, view)
    if (route === null) {
      hcm.no_route.inc()
      this.localReply(LocalReply.noRoute)
      return
    }
    this.route = route

    // CORS preflight from an allowed origin is answered here and never forwarded.
    const origin = req.headers.origin
    if (route.cors !== null && typeof origin === 'string' && view.method === 'OPTIONS' &&
      req.headers['access-control-request-method'] !== undefined && route.cors.allowed(origin)) {
      this.sendLocal(200, route.cors.preflightHeaders(origin), null, 'cors_response')
      return
    }

    const action = route.action
    if (action.kind === 'redirect') {
      hcm.rq_redirect.inc()
      this.sendLocal(action.redirect.code, { location: redirectLocation(action.redirect, view) }, null, 'via_route_redirect')
      return
    }
    if (action.kind === 'direct') {
      hcm.rq_direct_response.inc()
      const headers: HeaderMap = action.body.length > 0 ? { 'content-type': 'text/plain' } : {}
      route.headers?.response?.apply(headers)
      this.sendLocal(action.status, headers, action.body, 'direct_response')
      return
    }

    // Fault injection happens before the router: an abort never reaches an upstream and is
    // never retried; a delay runs before the route timeout starts.
    const fault = route.fault
    if (fault !== null) {
      const random = ctx.proxy.random
      if (fault.shouldDelay(random())) {
        this.flags.push('DI')
        hcm.fault.delays_injected.inc()
        hcm.fault.active_faults.inc()
        this.faultActive = true
        const abortAfter = fault.shouldAbort(random())
        this.delayTimer = ctx.proxy.clock.setTimeout(() => {
          this.delayTimer = null
          this.endFault()
          if (abortAfter) this.abortFault()
          else this.forward()
        }, fault.delayMs)
        return
      }
      if (fault.shouldAbort(random())) {
        this.abortFault()
        return
      }
    }
    this.forward()
  }

  private endFault (): void {
    if (this.faultActive) {
      this.faultActive = false
      this.ctx.hcm.fault.active_faults.dec()
    }
  }

  private abortFault (): void {
    const fault = this.route?.fault
    if (fault === null || fault === undefined || this.done) return
    this.ctx.hcm.fault.aborts_injected.inc()
    const spec: LocalReplySpec = { ...LocalReply.faultAbort, status: fault.abortStatus }
    if (fault.abortGrpcStatus >= 0) {
      this.flags.push('FI')
      this.sendLocal(200, { 'content-type': 'application/grpc', 'grpc-status': String(fault.abortGrpcStatus), 'grpc-message': 'fault filter abort' }, null, spec.details)
      return
    }
    this.localReply(spec)
  }

  // ------------------------------------------------------------------ forwarding

  private forward (): void {
    if (this.done) return
    const route = this.route as RouteEntry
    const action = route.action
    if (action.kind !== 'route') return
    const dest = action.destinations[action.picker.pick(this.ctx.proxy.random())]
    this.destination = dest
    const cluster = this.ctx.cluster(this.snapshot, dest.clusterName)
    if (cluster === null) {
      this.ctx.hcm.no_cluster.inc()
      this.localReply(LocalReply.noCluster)
      return
    }
    this.cluster = cluster
    this.buildUpstreamHeaders(route, dest)
    if (route.timeoutMs > 0) {
      this.routeTimer = this.ctx.proxy.clock.setTimeout(this.onRouteTimeout, route.timeoutMs)
    }
    this.retry = new RetryState(route.retry, this.ctx.proxy.random)
    this.upstreamStartMs = this.ctx.proxy.clock.now()

    // Body: none, small enough to buffer (replayable), or streamed (not replayable).
    const req = this.req
    const cl = req.headers['content-length']
    const chunked = req.headers['transfer-encoding'] !== undefined
    if (!chunked && (cl === undefined || cl === '0')) {
      this.body = null
      this.startAttempt()
    } else if (!chunked && Number(cl) <= RETRY_BODY_LIMIT) {
      this.bufferBody()
    } else {
      this.body = req
      this.startAttempt()
    }
  }

  private bufferBody (): void {
    const chunks: Buffer[] = []
    const req = this.req
    req.on('data', (c: Buffer) => { chunks.push(c) })
    req.once('end', () => {
      if (this.done) return
      this.body = chunks.length === 1 ? chunks[0] : Buffer.concat(chunks)
      this.startAttempt()
    })
  }

  private buildUpstreamHeaders (route: RouteEntry, dest: WeightedDestination): void {
    const h = forwardableHeaders(this.req.rawHeaders, this.req.headers.connection)
    const view = this.view
    h.host = route.authorityRewrite ?? view.authority
    h['x-forwarded-for'] = this.forwardedFor
    if (this.ctx.kind === 'gateway' || h['x-forwarded-proto'] === undefined) h['x-forwarded-proto'] = view.scheme
    h['x-request-id'] = this.requestId
    if (route.uriRewrite !== null) {
      const rewritten = applyUriRewrite(route.uriRewrite, view)
      if (rewritten !== view.path) {
        h['x-envoy-original-path'] = view.path
        this.upstreamPath = rewritten
      }
    }
    const peer = this.ctx.proxy.peerMetadata
    if (peer !== null && this.ctx.kind === 'outbound') {
      h['x-envoy-peer-metadata'] = peer
      h['x-envoy-peer-metadata-id'] = this.ctx.proxy.nodeId
    } else if (this.ctx.kind === 'inbound') {
      // The exchange is between the two proxies; the application never sees it.
      delete h['x-envoy-peer-metadata']
      delete h['x-envoy-peer-metadata-id']
    }
    route.headers?.request?.apply(h)
    dest.headers?.request?.apply(h)
    this.span?.injectInto(h)
    this.upstreamHeaders = h
  }

  startAttempt (): void {
    if (this.done) return
    const cluster = this.cluster as Cluster
    const stats = cluster.stats
    const hashKey = cluster.spec.hashKey === null ? null : hashKeyFor(cluster.spec.hashKey, this.req, this.view)
    const host = cluster.lb.chooseHost({ hashKey, attempted: this.attempted, originalDst: this.target })
    if (host === null) {
      this.localReply(LocalReply.noHealthyUpstream)
      return
    }
    // The balancer picked over every host because too few are healthy (minHealthPercent).
    if (cluster.hostSet.inPanic) stats.lb_healthy_panic.inc()
    // Taken here in one step (workers may share the limit), given back by the attempt's end().
    if (!cluster.breakers.requests.tryInc()) {
      stats.upstream_rq_pending_overflow.inc()
      this.localReply(LocalReply.overflow)
      return
    }
    this.upstreamHost = host
    this.attemptCount++
    // Mirrors go out with the first attempt, fire-and-forget; a streamed body is not mirrored.
    const mirrors = this.route?.mirrors ?? null
    if (this.attemptCount === 1 && mirrors !== null && (this.body === null || Buffer.isBuffer(this.body))) sendMirrors(this, mirrors)
    this.upstreamHeaders['x-envoy-attempt-count'] = String(this.attemptCount)
    const attempt = new UpstreamAttempt(this, cluster, host, this.retry?.policy.perTryTimeoutMs ?? 0)
    this.attempt = attempt
    attempt.start()
  }

  dispatchOptions (): Dispatcher.DispatchOptions {
    const body = this.body
    return {
      origin: undefined,
      path: this.upstreamPath ?? this.view.path,
      method: this.view.method as Dispatcher.HttpMethod,
      headers: this.upstreamHeaders as Record<string, string | string[]>,
      body: body === null ? null : body,
      // A streamed body is sent once; undici must not try to replay it.
      idempotent: false,
      blocking: false,
      reset: false
    }
  }

  // ------------------------------------------------------------------ attempt results

  /** Called by the attempt when it failed before any response byte reached the client. */
  attemptFailed (attempt: UpstreamAttempt, outcome: AttemptOutcome, err: unknown, status = 0, grpcStatus?: string): boolean {
    if (attempt !== this.attempt || this.done) return false
    const cluster = this.cluster as Cluster
    this.releaseRetry()
    const canReplay = !(this.body !== null && !Buffer.isBuffer(this.body))
    const retry = this.retry
    if (retry !== null && canReplay && (this.route?.timeoutMs === 0 || this.routeTimer !== null)) {
      const decision = retry.decide(outcome, status, grpcStatus)
      if (decision === RetryDecision.Retry) {
        // Taken here in one step (workers may share the limit); held until releaseRetry().
        if (!cluster.breakers.retries.tryInc()) {
          cluster.stats.upstream_rq_retry_overflow.inc()
          this.flags.push('UO')
        } else {
          cluster.stats.upstream_rq_retry.inc()
          if (this.attempted === null) this.attempted = new Set()
          this.attempted.add(attempt.host)
          this.scheduleRetry(outcome === AttemptOutcome.ResetOnReusedConnection ? 0 : retry.backoffMs())
          return true
        }
      } else if (decision === RetryDecision.LimitExceeded) {
        cluster.stats.upstream_rq_retry_limit_exceeded.inc()
        this.flags.push('URX')
      }
    }
    if (outcome === AttemptOutcome.Response) return false // let the attempt stream the response it has
    switch (outcome) {
      case AttemptOutcome.PerTryTimeout: this.localReply(LocalReply.timeout); break
      case AttemptOutcome.ConnectFailure: this.localReply(LocalReply.connectFailure); break
      default: this.localReply(classifyUpstreamError(err))
    }
    return true
  }

  private scheduleRetry (ms: number): void {
    const cluster = this.cluster as Cluster
    this.retryHeld = true
    cluster.pools.updateGauges()
    this.attempt = null
    this.backoffTimer = this.ctx.proxy.clock.setTimeout(() => {
      this.backoffTimer = null
      this.startAttempt()
    }, ms)
  }

  private releaseRetry (): void {
    if (!this.retryHeld) return
    this.retryHeld = false
    const cluster = this.cluster as Cluster
    cluster.breakers.retries.dec()
    cluster.pools.updateGauges()
  }

  /** Response headers from the current attempt that will be forwarded. */
  onUpstreamHeaders (attempt: UpstreamAttempt, status: number, rawHeaders: Buffer[]): void {
    if (attempt !== this.attempt || this.done) return
    this.responseStarted = true
    this.responseCode = status
    // Envoy counts a success when a retried attempt's outcome is not itself retriable; a
    // retriable answer forwarded because retries ran out (URX) released the retry already.
    if (this.retryHeld) {
      (this.cluster as Cluster).stats.upstream_rq_retry_success.inc()
      this.releaseRetry()
    }
    const now = this.ctx.proxy.clock.now()
    this.upstreamServiceTimeMs = Math.round(now - this.upstreamStartMs)
    this.responseDetails = 'via_upstream'
    const route = this.route as RouteEntry
    const origin = this.req.headers.origin
    const decorate = route.headers?.response != null || this.destination?.headers?.response != null ||
      (route.cors !== null && typeof origin === 'string')
    if (!decorate) {
      // The common case, no response header changes: hand Node a flat [name, value, ...] list,
      // which skips building an object and lets writeHead keep duplicate headers as they came.
      this.res.writeHead(status, responseHeaderList(rawHeaders, this.upstreamServiceTimeMs))
      return
    }
    const out: HeaderMap = {}
    const list = responseHeaderList(rawHeaders, this.upstreamServiceTimeMs)
    for (let i = 0; i < list.length; i += 2) {
      const name = list[i].toLowerCase()
      const prev = out[name]
      if (prev === undefined) out[name] = list[i + 1]
      else if (Array.isArray(prev)) prev.push(list[i + 1])
      else out[name] = [prev, list[i + 1]]
    }
    route.headers?.response?.apply(out)
    this.destination?.headers?.response?.apply(out)
    if (route.cors !== null && typeof origin === 'string' && route.cors.allowed(origin)) route.cors.decorateResponse(origin, out)
    this.res.writeHead(status, out as Record<string, string | string[]>)
  }

  /** Writes a body chunk; false asks undici to pause until the client drains. */
  onUpstreamData (chunk: Buffer): boolean {
    this.bytesSent += chunk.length
    return this.res.write(chunk)
  }

  onUpstreamComplete (attempt: UpstreamAttempt): void {
    if (attempt !== this.attempt || this.done) return
    this.res.end()
    this.finish()
  }

  /** The upstream failed after the response started: nothing to answer, cut the client off. */
  onUpstreamErrorAfterHeaders (attempt: UpstreamAttempt, flag: ResponseFlag): void {
    if (attempt !== this.attempt || this.done) return
    this.flags.push(flag)
    this.responseDetails = 'upstream_reset_after_response_started'
    this.res.destroy()
    this.finish()
  }

  // ------------------------------------------------------------------ timeouts and aborts

  private readonly onRouteTimeout = (): void => {
    this.routeTimer = null
    if (this.done) return
    const cluster = this.cluster
    cluster?.stats.upstream_rq_timeout.inc()
    const attempt = this.attempt
    this.attempt = null
    attempt?.cancel()
    if (this.backoffTimer !== null) {
      this.ctx.proxy.clock.clearTimeout(this.backoffTimer)
      this.backoffTimer = null
    }
    this.releaseRetry()
    if (this.responseStarted) {
      this.flags.push('UT')
      this.res.destroy()
      this.finish()
      return
    }
    this.localReply(LocalReply.timeout)
  }

  private readonly onDownstreamClose = (): void => {
    if (this.done) return
    // The client went away before we finished: release the upstream request (Envoy: DC).
    this.flags.push('DC')
    this.ctx.hcm.downstream_rq_rx_reset.inc()
    const attempt = this.attempt
    this.attempt = null
    attempt?.cancel()
    this.cluster?.stats.upstream_rq_cancelled.inc()
    if (!this.responseStarted) this.responseCode = 0
    this.finish()
  }

  // ------------------------------------------------------------------ local replies and the end

  localReply (spec: LocalReplySpec): void {
    if (this.done) return
    this.flags.push(spec.flag)
    // Once a cluster is chosen, a local reply answers for it (connect failure, reset, timeout,
    // overflow, no healthy host): Envoy's router charges it to the cluster as upstream_rq_<code>
    // (Filter::chargeUpstreamAbort), so dashboards reading upstream_rq by code see the 503s and 504s.
    const cluster = this.cluster
    if (cluster !== null) {
      cluster.stats.responseCode(spec.status)
      cluster.stats.upstream_rq_completed.inc()
    }
    const headers: HeaderMap = spec.body !== '' ? { 'content-type': 'text/plain' } : {}
    if (spec.headers !== undefined) Object.assign(headers, spec.headers)
    this.sendLocal(spec.status, headers, spec.body === '' ? null : Buffer.from(spec.body), spec.details)
  }

  private sendLocal (status: number, headers: HeaderMap, body: Buffer | null, details: string): void {
    if (this.done) return
    const attempt = this.attempt
    this.attempt = null
    attempt?.cancel()
    this.responseCode = status
    this.responseDetails = details
    const res = this.res
    if (res.headersSent) {
      res.destroy()
      this.finish()
      return
    }
    headers['content-length'] = String(body?.length ?? 0)
    headers.server = SERVER_NAME
    res.writeHead(status, headers as Record<string, string | string[]>)
    this.bytesSent += body?.length ?? 0
    res.end(body ?? undefined)
    // A request body nobody will read must not hold the connection: drain it.
    if (!this.req.complete) this.req.resume()
    this.finish()
  }

  finish (): void {
    if (this.done) return
    this.done = true
    const clock = this.ctx.proxy.clock
    if (this.routeTimer !== null) { clock.clearTimeout(this.routeTimer); this.routeTimer = null }
    if (this.delayTimer !== null) { clock.clearTimeout(this.delayTimer); this.delayTimer = null }
    if (this.backoffTimer !== null) {
      clock.clearTimeout(this.backoffTimer)
      this.backoffTimer = null
    }
    this.releaseRetry()
    this.endFault()
    const hcm = this.ctx.hcm
    hcm.downstream_rq_active.dec()
    if (this.responseCode > 0) hcm.responseCode(this.responseCode)
    const durationMs = clock.now() - this.startMs
    hcm.downstream_rq_time.observe(durationMs)
    this.bytesReceived = this.bytesReceivedFromRequest()
    const flags = this.flags.length === 0 ? '-' : this.flags.join(',')
    const span = this.span
    if (span !== null && span.sampled) {
      // Tags cost string building: only for spans that are recorded.
      const view = this.view
      span.setTag(Tags.HttpUrl, `${view.scheme}://${view.authority}${view.path}`)
      span.setTag(Tags.HttpMethod, view.method)
      span.setTag(Tags.HttpProtocol, `HTTP/${this.req.httpVersion}`)
      span.setTag(Tags.RequestId, this.requestId)
      span.setTag(Tags.UpstreamCluster, this.cluster?.name ?? '-')
      span.setTag(Tags.UpstreamClusterName, this.cluster?.name ?? '-')
      span.setTag(Tags.DownstreamCluster, '-')
      span.setTag(Tags.UserAgent, String(this.req.headers['user-agent'] ?? '-'))
      span.setTag(Tags.RequestSize, String(this.bytesReceived))
      span.setTag(Tags.ResponseSize, String(this.bytesSent))
      span.setTag(Tags.PeerAddress, this.req.socket?.remoteAddress ?? '')
      if (this.route !== null && this.route.operation !== '') span.setName(this.route.operation)
      if (this.upstreamHost !== null) {
        span.setTag(Tags.UpstreamAddress, this.upstreamHost.key)
        span.setRemoteEndpoint(this.upstreamHost.address, this.upstreamHost.port)
      }
    }
    span?.finish(this.responseCode, flags)
    if (this.cluster !== null) {
      const recorder = this.ctx.istioRecorder(this.cluster.name, this.snapshot, this.req)
      recorder?.record(this.responseCode, flags, '', durationMs, this.bytesReceived, this.bytesSent)
    }
    this.ctx.proxy.accessLog?.log(this, durationMs, flags)
  }

  private bytesReceivedFromRequest (): number {
    const body = this.body
    if (body === null) return 0
    if (Buffer.isBuffer(body)) return body.length
    const cl = Number(this.req.headers['content-length'])
    return Number.isFinite(cl) ? cl : 0
  }
}

/**
 * The upstream's response headers as a flat list for the client: hop-by-hop headers (and any
 * the upstream's `Connection` names) dropped, `server` replaced, upstream service time added.
 */
export function responseHeaderList (raw: Buffer[], serviceTimeMs: number): string[] {
  const out: string[] = []
  let extraHop: readonly string[] | null = null
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i].toString('latin1')
    const lower = name.toLowerCase()
    if (HOP_BY_HOP.has(lower) || lower === 'server') {
      if (lower === 'connection') {
        const tokens = connectionTokens(raw[i + 1].toString('latin1'))
        if (tokens.length > 0) extraHop = tokens
      }
      continue
    }
    out.push(name, raw[i + 1].toString('latin1'))
  }
  if (extraHop !== null) {
    for (let i = out.length - 2; i >= 0; i -= 2) {
      if (extraHop.includes(out[i].toLowerCase())) out.splice(i, 2)
    }
  }
  out.push('x-envoy-upstream-service-time', String(serviceTimeMs), 'server', SERVER_NAME)
  return out
}
