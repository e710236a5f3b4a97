// An HTTP/1.1 listener: accepts connections, rejects malformed requests with 400/431 before
// anything reaches an upstream, and hands each good request to an ActiveRequest.
//
// Node's llhttp parser (strict mode; insecureHTTPParser stays off) already refuses the
// smuggling vectors: Content-Length with Transfer-Encoding, differing duplicate Content-Length,
// obfuscated Transfer-Encoding, bare LF line ends, NUL or CR in a header. Each case has a test.

import http, { type IncomingMessage, type ServerResponse } from 'node:http'
import type { Socket } from 'node:net'
import type { Duplex } from 'node:stream'
import { ActiveRequest } from '../forwarding/active-request'
import { LocalReply } from '../forwarding/local-reply'
import type { ListenerContext } from '../forwarding/context'
import type { RequestView } from '../routing/http-match'
import { forwardUpgrade } from '../forwarding/upgrade'

/** Envoy's default max_request_headers_kb is 60. */
export const MAX_HEADER_BYTES = 60 * 1024

export interface HttpListenerOptions {
  /** Idle time between requests on a downstream keep-alive connection. */
  keepAliveTimeoutMs: number
  /** Time a client may take to send the request headers (slowloris guard). */
  headersTimeoutMs: number
  /** False when a capture listener accepts the sockets and emits them into this server. */
  acceptsConnections: boolean
}

/** Envoy's listener.<address>.downstream_cx_* for one accepted socket. */
export function countListenerConnection (ctx: ListenerContext, socket: Socket): void {
  const l = ctx.listener
  l.downstream_cx_total.inc()
  l.downstream_cx_active.inc()
  socket.once('close', () => {
    l.downstream_cx_active.dec()
    l.downstream_cx_destroy.inc()
  })
}

export const DEFAULT_LISTENER_OPTIONS: HttpListenerOptions = { keepAliveTimeoutMs: 300_000, headersTimeoutMs: 10_000, acceptsConnections: true }

export function createHttpServer (ctx: ListenerContext, opts: HttpListenerOptions = DEFAULT_LISTENER_OPTIONS): http.Server {
  const server = http.createServer({
    maxHeaderSize: MAX_HEADER_BYTES,
    insecureHTTPParser: false,
    requestTimeout: 0, // a 1 GiB upload may take long; idle sockets are cut by `timeout` below
    headersTimeout: opts.headersTimeoutMs,
    keepAliveTimeout: opts.keepAliveTimeoutMs,
    connectionsCheckingInterval: Math.min(1000, opts.headersTimeoutMs),
    noDelay: true,
    joinDuplicateHeaders: false
  })
  // Envoy's stream idle timeout: 5 minutes without a byte either way.
  server.timeout = 300_000
  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    handleRequest(ctx, req, res)
  })
  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    const view = requestView(req, ctx)
    if (view === null) {
      writeRawReply(socket, LocalReply.badRequest.status, LocalReply.badRequest.body)
      return
    }
    forwardUpgrade(ctx, req, socket, head, view)
  })
  server.on('clientError', (err: Error & { code?: string }, socket: Socket) => {
    ctx.hcm.downstream_cx_protocol_error.inc()
    if (err.code === 'ECONNRESET' || !socket.writable) {
      socket.destroy()
      return
    }
    if (err.code === 'HPE_HEADER_OVERFLOW') {
      ctx.hcm.downstream_rq_too_large.inc()
      writeRawReply(socket, LocalReply.headersTooLarge.status, LocalReply.headersTooLarge.body)
      return
    }
    if (err.code === 'ERR_HTTP_REQUEST_TIMEOUT') {
      ctx.hcm.downstream_rq_timeout.inc()
      writeRawReply(socket, 408, 'request timeout')
      return
    }
    writeRawReply(socket, LocalReply.badRequest.status, LocalReply.badRequest.body)
  })
  server.on('connection', (socket: Socket) => {
    // Sidecar capture listeners accept the socket themselves (and count it as a listener
    // connection) before handing HTTP ones to this server with emit('connection').
    if (opts.acceptsConnections) countListenerConnection(ctx, socket)
    ctx.hcm.downstream_cx_total.inc()
    ctx.hcm.downstream_cx_http1_active.inc()
    ctx.hcm.downstream_cx_active.inc()
    socket.once('close', () => {
      ctx.hcm.downstream_cx_active.dec()
      ctx.hcm.downstream_cx_http1_active.dec()
      ctx.hcm.downstream_cx_destroy.inc()
    })
  })
  return server
}

function handleRequest (ctx: ListenerContext, req: IncomingMessage, res: ServerResponse): void {
  if (ctx.proxy.lifecycle.draining) res.shouldKeepAlive = false
  const view = requestView(req, ctx)
  if (view === null) {
    res.shouldKeepAlive = false
    res.writeHead(400, { 'content-type': 'text/plain', 'content-length': String(LocalReply.badRequest.body.length), connection: 'close' })
    res.end(LocalReply.badRequest.body)
    req.resume()
    return
  }
  new ActiveRequest(ctx, req, res, view).run()
}

/**
 * The routing view of a request, or null when the request line or Host is unusable (400).
 * Absolute-form targets (`GET http://host/path`, what an explicit HTTP proxy client sends) take
 * their authority from the URL, as Envoy does.
 */
export function requestView (req: IncomingMessage, ctx: ListenerContext): RequestView | null {
  const url = req.url ?? ''
  let path = url
  let authority = req.headers.host ?? ''
  if (url.length === 0) return null
  const first = url.charCodeAt(0)
  if (first !== 47 /* / */) {
    if (url === '*' && req.method === 'OPTIONS') {
      path = '*'
    } else if (/^https?:\/\//i.test(url)) {
      const slash = url.indexOf('/', url.indexOf('//') + 2)
      authority = slash < 0 ? url.slice(url.indexOf('//') + 2) : url.slice(url.indexOf('//') + 2, slash)
      path = slash < 0 ? '/' : url.slice(slash)
    } else {
      ctx.hcm.downstream_rq_non_relative_path.inc()
      return null
    }
  }
  // HTTP/1.1 requires Host (RFC 9112 §3.2); Envoy answers 400 without it.
  if (authority === '' && req.httpVersionMinor >= 1) return null
  const q = path.indexOf('?')
  let pathOnly = q < 0 ? path : path.slice(0, q)
  const hash = pathOnly.indexOf('#')
  if (hash >= 0) pathOnly = pathOnly.slice(0, hash)
  return {
    method: req.method ?? 'GET',
    path,
    pathOnly,
    query: q < 0 ? '' : path.slice(q + 1),
    authority: authority.toLowerCase(),
    scheme: 'http',
    headers: req.headers,
    queryMap: undefined
  }
}

/** A reply written straight to a socket that has no ServerResponse (parse errors, upgrades). */
export function writeRawReply (socket: Duplex, status: number, body: string, extra = ''): void {
  const reason = http.STATUS_CODES[status] ?? 'Unknown'
  socket.end(
    `HTTP/1.1 ${status} ${reason}\r\ncontent-length: ${Buffer.byteLength(body)}\r\ncontent-type: text/plain\r\n` +
    `server: istio-envoy\r\n${extra}connection: close\r\n\r\n${body}`
  )
}
