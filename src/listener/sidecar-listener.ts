// The sidecar's capture listeners (Envoy's virtualOutbound 15001 and virtualInbound 15006).
// iptables REDIRECTs the pod's TCP here; the original destination, read from the socket, says
// where the connection was going. The port's protocol (ServiceEntry `protocol` or port-name
// prefix) picks HTTP or TCP; an unknown port is sniffed: an HTTP/1 request line within a short
// time means HTTP, anything else (or silence: server-first protocols) means TCP.
//
// Without iptables (a laptop), the outbound listener is an explicit HTTP proxy: absolute-form
// requests and Host-routed requests go through the same router.

import net from 'node:net'
import type http from 'node:http'
import { originalDestination, originalDestinationAvailable } from './original-dst'
import type { ConnectionTarget, ListenerContext } from '../forwarding/context'
import type { Snapshot } from '../model/snapshot'
import { isHttpProtocol, type Protocol } from '../registry/service-registry'
import { proxyTcp } from '../forwarding/tcp-proxy'
import { listenOn } from './listen'
import { countListenerConnection } from './http-listener'
import type { Cluster } from '../upstream/cluster'
import type { IstioTcpRecorder } from '../observability/stats'

/**
 * How long an unknown port waits for the client's first bytes before treating the connection
 * as TCP. Envoy's listener_filters_timeout is 15 s; server-first protocols (MySQL, SMTP) sit
 * through it in Istio. Ferry waits 1 s: long enough for any client-first protocol on a
 * loaded machine, short enough that server-first protocols start promptly.
 */
export const SNIFF_TIMEOUT_MS = 1000

const HTTP_METHOD = /^(GET|HEAD|POST|PUT|DELETE|CONNECT|OPTIONS|TRACE|PATCH|PRI|PROPFIND|PROPPATCH|MKCOL|COPY|MOVE|LOCK|UNLOCK|REPORT|MKACTIVITY|CHECKOUT|MERGE|M-SEARCH|NOTIFY|SUBSCRIBE|UNSUBSCRIBE|PURGE|SEARCH) /

/** Whether the first bytes of a connection look like an HTTP/1 request. */
export function looksLikeHttp (head: Buffer): boolean {
  return HTTP_METHOD.test(head.subarray(0, 16).toString('latin1'))
}

export interface SidecarRouting {
  /** The TCP cluster for a destination, or null to pass it through / reject. */
  tcpCluster (snapshot: Snapshot, target: ConnectionTarget): Cluster | null
  /** The protocol of a destination port when the registry knows it, else 'UNKNOWN'. */
  protocol (snapshot: Snapshot, target: ConnectionTarget): Protocol
  /** Cluster for an unknown destination under ALLOW_ANY; null under REGISTRY_ONLY. */
  passthrough (): Cluster | null
  tcpRecorder (cluster: Cluster): IstioTcpRecorder | null
  localAddress: string | null
}

export class SidecarListener {
  readonly server: net.Server
  private readonly targets = new WeakMap<net.Socket, ConnectionTarget>()
  private static warned = false

  constructor (
    readonly ctx: ListenerContext,
    private readonly http: http.Server,
    private readonly routing: SidecarRouting,
    log: (msg: string) => void
  ) {
    this.server = net.createServer({ noDelay: true }, socket => this.onConnection(socket))
    // The http.Server is fed sockets and never listens itself, but Node only tracks an http.Server's
    // connections (which enforces headersTimeout and lets closeIdleConnections reach idle
    // keep-alive sockets at shutdown) once it has seen 'listening'; and close() stops that tracking.
    this.server.on('listening', () => http.emit('listening'))
    this.server.on('close', () => http.close())
    if (!originalDestinationAvailable() && !SidecarListener.warned) {
      SidecarListener.warned = true
      log('original-destination addon not loaded: captured connections route by Host header only')
    }
  }

  /** The original destination recorded for an accepted socket. */
  targetOf (socket: net.Socket): ConnectionTarget | null {
    return this.targets.get(socket) ?? null
  }

  private onConnection (socket: net.Socket): void {
    socket.on('error', () => socket.destroy())
    countListenerConnection(this.ctx, socket)
    const dst = originalDestination(socket)
    if (dst === null) {
      // Not captured: an explicit proxy client (HTTP_PROXY) or a direct Host-routed request.
      this.http.emit('connection', socket)
      return
    }
    const target: ConnectionTarget = { address: dst.address, port: dst.port }
    this.targets.set(socket, target)
    const snapshot = this.ctx.proxy.snapshots.current
    const protocol = this.routing.protocol(snapshot, target)
    if (isHttpProtocol(protocol)) {
      this.http.emit('connection', socket)
      return
    }
    if (protocol !== 'UNKNOWN') {
      this.tcp(socket, target, null)
      return
    }
    this.sniff(socket, target)
  }

  private sniff (socket: net.Socket, target: ConnectionTarget): void {
    const timer = setTimeout(() => {
      socket.off('data', onData)
      this.tcp(socket, target, null)
    }, SNIFF_TIMEOUT_MS)
    const onData = (chunk: Buffer): void => {
      clearTimeout(timer)
      socket.pause()
      if (looksLikeHttp(chunk)) {
        socket.unshift(chunk)
        this.http.emit('connection', socket)
        socket.resume()
      } else {
        this.tcp(socket, target, chunk)
      }
    }
    socket.once('data', onData)
    socket.once('close', () => clearTimeout(timer))
  }

  private tcp (socket: net.Socket, target: ConnectionTarget, head: Buffer | null): void {
    const snapshot = this.ctx.proxy.snapshots.current
    const cluster = this.routing.tcpCluster(snapshot, target) ?? this.routing.passthrough()
    if (cluster === null) {
      // REGISTRY_ONLY: an unknown TCP destination is closed (Envoy's BlackHoleCluster).
      socket.destroy()
      return
    }
    proxyTcp(socket, cluster, { head, target, localAddress: this.routing.localAddress, recorder: this.routing.tcpRecorder(cluster) })
  }

  listen (port: number, address: string): Promise<void> {
    return listenOn(this.server, port, address)
  }
}
