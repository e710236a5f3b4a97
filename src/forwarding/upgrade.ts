// HTTP/1.1 Upgrade (WebSocket) passthrough: routed like any request, then the two sockets are
// spliced. Upgrades bypass the pooled keep-alive connections (an upgraded socket is never
// returned to a pool), so they use a plain node:http client request.

import http, { type IncomingMessage } from 'node:http'
import type { Duplex } from 'node:stream'
import type { ListenerContext } from './context'
import { firstRoute, type RequestView } from '../routing/http-match'
import { LocalReply } from './local-reply'
import { passthroughRoute } from './passthrough'
import { HOP_BY_HOP } from './hop-by-hop'
import { writeRawReply } from '../listener/http-listener'

export function forwardUpgrade (ctx: ListenerContext, req: IncomingMessage, socket: Duplex, head: Buffer, view: RequestView): void {
  const snapshot = ctx.proxy.snapshots.current
  // As for any request: the destination's port picks the route table (sidecar), and an
  // unclaimed destination passes through under ALLOW_ANY.
  const target = ctx.target(req, view)
  const vhost = ctx.routeTable(snapshot, target?.port ?? ctx.port)?.table.lookup(view.authority) ?? null
  const route = vhost === null
    ? (ctx.unmatched === 'passthrough' && target !== null ? passthroughRoute(target) : null)
    : firstRoute(vhost.routes, view)
  if (route === null || route.action.kind !== 'route') {
    writeRawReply(socket, LocalReply.noRoute.status, LocalReply.noRoute.body)
    return
  }
  const dest = route.action.destinations[route.action.picker.pick(ctx.proxy.random())]
  const cluster = ctx.cluster(snapshot, dest.clusterName)
  if (cluster === null) {
    writeRawReply(socket, LocalReply.noCluster.status, LocalReply.noCluster.body)
    return
  }
  const host = cluster.lb.chooseHost({ hashKey: null, attempted: null, originalDst: target })
  if (host === null) {
    writeRawReply(socket, LocalReply.noHealthyUpstream.status, LocalReply.noHealthyUpstream.body)
    return
  }
  const headers: Record<string, string | string[]> = {}
  for (const [k, v] of Object.entries(req.headers)) {
    if (v === undefined || (HOP_BY_HOP.has(k) && k !== 'upgrade')) continue
    headers[k] = v
  }
  headers.connection = 'Upgrade'
  headers.host = route.authorityRewrite ?? view.authority
  route.headers?.request?.apply(headers)
  cluster.stats.upstream_rq_total.inc()
  const upstreamReq = http.request({ host: host.address, port: host.port, method: req.method, path: view.path, headers, agent: false })
  upstreamReq.on('upgrade', (res: IncomingMessage, upstream: Duplex, upstreamHead: Buffer) => {
    cluster.stats.responseCode(res.statusCode ?? 101)
    let out = `HTTP/1.1 ${res.statusCode ?? 101} ${res.statusMessage ?? 'Switching Protocols'}\r\n`
    for (let i = 0; i < res.rawHeaders.length; i += 2) out += `${res.rawHeaders[i]}: ${res.rawHeaders[i + 1]}\r\n`
    socket.write(out + '\r\n')
    if (upstreamHead.length > 0) socket.write(upstreamHead)
    if (head.length > 0) upstream.write(head)
    upstream.pipe(socket)
    socket.pipe(upstream)
    const close = (): void => { upstream.destroy(); socket.destroy() }
    upstream.on('error', close)
    socket.on('error', close)
    upstream.on('close', close)
    socket.on('close', close)
  })
  upstreamReq.on('response', (res: IncomingMessage) => {
    // The upstream refused the upgrade: relay its answer and close.
    cluster.stats.responseCode(res.statusCode ?? 502)
    let out = `HTTP/1.1 ${res.statusCode ?? 502} ${res.statusMessage ?? ''}\r\n`
    for (let i = 0; i < res.rawHeaders.length; i += 2) {
      const name = res.rawHeaders[i].toLowerCase()
      if (name === 'connection' || name === 'transfer-encoding' || name === 'keep-alive') continue
      out += `${res.rawHeaders[i]}: ${res.rawHeaders[i + 1]}\r\n`
    }
    socket.write(out + 'connection: close\r\n\r\n')
    res.pipe(socket)
  })
  upstreamReq.on('error', () => {
    writeRawReply(socket, LocalReply.connectFailure.status, LocalReply.connectFailure.body)
  })
  socket.on('error', () => upstreamReq.destroy())
  upstreamReq.end()
}
