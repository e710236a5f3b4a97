// Access log in Istio's default text format (or JSON with the same fields). Lines are joined
// and written in one batch per event-loop turn, so the request path only appends a string.

import { createWriteStream, openSync, type WriteStream } from 'node:fs'
import type { ActiveRequest } from '../forwarding/active-request'

export type AccessLogFormat = 'text' | 'json'

const dash = (v: string | undefined | null): string => (v === undefined || v === null || v === '' ? '-' : v)
const header = (req: ActiveRequest, name: string): string => {
  const v = req.req.headers[name]
  return dash(Array.isArray(v) ? v.join(',') : v)
}

/** The fields of Istio's default access log line, by Envoy command operator name. */
export function accessLogFields (r: ActiveRequest, durationMs: number, flags: string): Record<string, string | number> {
  const sock = r.req.socket
  const host = r.upstreamHost
  return {
    start_time: r.startTime.toISOString(),
    method: r.view.method,
    path: dash(r.view.path),
    protocol: `HTTP/${r.req.httpVersion}`,
    response_code: r.responseCode,
    response_flags: flags,
    response_code_details: dash(r.responseDetails),
    connection_termination_details: '-',
    upstream_transport_failure_reason: '-',
    bytes_received: r.bytesReceived,
    bytes_sent: r.bytesSent,
    duration: Math.round(durationMs),
    upstream_service_time: r.upstreamServiceTimeMs < 0 ? '-' : String(r.upstreamServiceTimeMs),
    // %REQ(X-FORWARDED-FOR)% after the connection manager appended the client address.
    x_forwarded_for: dash(r.forwardedFor),
    user_agent: header(r, 'user-agent'),
    request_id: dash(r.requestId),
    authority: dash(r.view.authority),
    upstream_host: host === null ? '-' : host.key,
    upstream_cluster: r.cluster?.name ?? '-',
    upstream_local_address: '-',
    downstream_local_address: sock === null ? '-' : `${sock.localAddress ?? ''}:${sock.localPort ?? ''}`,
    downstream_remote_address: sock === null ? '-' : `${sock.remoteAddress ?? ''}:${sock.remotePort ?? ''}`,
    requested_server_name: '-',
    route_name: dash(r.route?.name)
  }
}

export function formatText (f: Record<string, string | number>, originalPath: string): string {
  return `[${f.start_time}] "${f.method} ${originalPath} ${f.protocol}" ${f.response_code} ${f.response_flags} ` +
    `${f.response_code_details} ${f.connection_termination_details} "${f.upstream_transport_failure_reason}" ` +
    `${f.bytes_received} ${f.bytes_sent} ${f.duration} ${f.upstream_service_time} "${f.x_forwarded_for}" ` +
    `"${f.user_agent}" "${f.request_id}" "${f.authority}" "${f.upstream_host}" ${f.upstream_cluster} ` +
    `${f.upstream_local_address} ${f.downstream_local_address} ${f.downstream_remote_address} ` +
    `${f.requested_server_name} ${f.route_name}\n`
}

/**
 * Envoy's JSON formatter writes an operator with no value as `null` where the text form prints `-`;
 * RESPONSE_FLAGS is the exception, its "none" value is the string `-` in both.
 */
function jsonValue (key: string, value: unknown): unknown {
  return value === '-' && key !== 'response_flags' ? null : value
}

export class AccessLog {
  private out: WriteStream | NodeJS.WritableStream | null = null
  private pending: string[] = []
  private scheduled = false

  /** `onError` hears a write failure (disk full, file removed); lines logged after one are dropped. */
  constructor (readonly path: string, readonly format: AccessLogFormat, private readonly onError: (err: Error) => void = () => {}) {}

  /**
   * Opens the file before the first request, synchronously, so a path that cannot be written
   * (missing directory, no permission) stops `ferry run` with its name, as Envoy refuses an
   * access log it cannot open. A stream opened lazily would only fail later, as an unhandled
   * 'error' event that takes the process down.
   */
  open (): void {
    if (this.out !== null) return
    const path = this.path
    if (path === '-' || path === '/dev/stdout') {
      this.out = process.stdout
      return
    }
    let fd: number
    try {
      fd = openSync(path, 'a')
    } catch (err) {
      throw new Error(`access log ${path}: ${(err as Error).message}`)
    }
    const stream = createWriteStream(path, { fd, flags: 'a' })
    stream.on('error', (err: Error) => {
      this.out = null
      this.onError(err)
    })
    this.out = stream
  }

  log (r: ActiveRequest, durationMs: number, flags: string): void {
    if (this.out === null) return
    const f = accessLogFields(r, durationMs, flags)
    // %REQ(X-ENVOY-ORIGINAL-PATH?:PATH)%: the path as the client sent it.
    this.pending.push(this.format === 'json' ? JSON.stringify(f, jsonValue) + '\n' : formatText(f, r.view.path))
    if (!this.scheduled) {
      this.scheduled = true
      setImmediate(this.flush)
    }
  }

  private readonly flush = (): void => {
    this.scheduled = false
    const lines = this.pending
    this.pending = []
    if (lines.length > 0) this.out?.write(lines.join(''))
  }

  close (): Promise<void> {
    this.flush()
    const out = this.out
    this.out = null
    if (out === null || out === process.stdout) return Promise.resolve()
    return new Promise(resolve => (out as WriteStream).end(resolve))
  }
}
