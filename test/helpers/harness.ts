// Shared integration-test plumbing: real upstream servers on port 0, a Ferry started in this
// process from YAML text (gateway role, listeners on free loopback ports), and a small HTTP
// client that keeps nothing pooled between calls unless asked.

import http, { type IncomingMessage, type ServerResponse } from 'node:http'
import net from 'node:net'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Ferry, type FerryOptions } from '../../src/ferry'
import { Logger } from '../../src/observability/logger'

export interface Upstream {
  port: number
  server: http.Server
  /** Every request seen, in order. */
  requests: Array<{ method: string, url: string, headers: http.IncomingHttpHeaders, body: Buffer }>
  close (): Promise<void>
}

export type UpstreamHandler = (req: IncomingMessage, res: ServerResponse, body: Buffer, index: number) => void

/** An upstream on 127.0.0.1:0. The default handler echoes the request as JSON. */
export async function startUpstream (handler?: UpstreamHandler, opts: { bufferBody?: boolean } = {}): Promise<Upstream> {
  const requests: Upstream['requests'] = []
  const server = http.createServer((req, res) => {
    if (opts.bufferBody === false && handler !== undefined) {
      requests.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body: Buffer.alloc(0) })
      handler(req, res, Buffer.alloc(0), requests.length - 1)
      return
    }
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      const body = Buffer.concat(chunks)
      requests.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body })
      if (handler !== undefined) {
        handler(req, res, body, requests.length - 1)
        return
      }
      const out = JSON.stringify({ method: req.method, url: req.url, headers: req.headers, bytes: body.length })
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(out) })
      res.end(out)
    })
  })
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  const port = (server.address() as net.AddressInfo).port
  return {
    port,
    server,
    requests,
    close: () => new Promise<void>(resolve => {
      server.close(() => resolve())
      server.closeAllConnections()
    })
  }
}

/** A fresh directory under the OS temp dir (`prefix` names the test), removed when `t` ends. */
export function tempDir (t: { teardown: (fn: () => void) => void }, prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  return dir
}

export async function freePort (): Promise<number> {
  const s = net.createServer()
  await new Promise<void>(resolve => s.listen(0, '127.0.0.1', resolve))
  const port = (s.address() as net.AddressInfo).port
  await new Promise<void>(resolve => s.close(() => resolve()))
  return port
}

export interface RunningFerry {
  ferry: Ferry
  /** Port of the first gateway listener. */
  port: number
  adminPort: number
  configFile: string
  dir: string
  /** Replaces the config file's text (hot reload picks it up). */
  writeConfig (yaml: string): void
  stop (): Promise<void>
}

/**
 * Starts Ferry in gateway role on YAML text. The text may use `${PORT}` for the gateway port
 * (a free port chosen here) and any `${NAME}` given in `vars`.
 */
export async function startFerry (yaml: string, vars: Record<string, number | string> = {}, opts: Partial<FerryOptions> = {}): Promise<RunningFerry> {
  const port = await freePort()
  const dir = mkdtempSync(join(tmpdir(), 'ferry-test-'))
  const configFile = join(dir, 'config.yaml')
  const expand = (text: string): string => text.replace(/\$\{(\w+)\}/g, (_m, name: string) => String(name === 'PORT' ? port : vars[name] ?? `\${${name}}`))
  writeFileSync(configFile, expand(yaml))
  const ferry = new Ferry({
    configPaths: [configFile],
    role: 'gateway',
    namespace: 'default',
    labels: {},
    admin: '127.0.0.1:0',
    accessLog: null,
    accessLogFormat: 'text',
    gatewayAddress: '127.0.0.1',
    zipkin: null,
    samplingPercent: 0,
    logger: new Logger('error'),
    reloadDebounceMs: 20,
    ...opts
  })
  try {
    await ferry.start()
  } catch (err) {
    rmSync(dir, { recursive: true, force: true })
    throw err
  }
  return {
    ferry,
    port,
    adminPort: ferry.adminPort,
    configFile,
    dir,
    writeConfig: (text: string) => writeFileSync(configFile, expand(text)),
    stop: async () => {
      await ferry.stop()
      rmSync(dir, { recursive: true, force: true })
    }
  }
}

export interface Reply {
  status: number
  headers: http.IncomingHttpHeaders
  body: string
}

/** One request on a fresh connection (agent: false), body collected. */
export function request (port: number, path: string, opts: { method?: string, headers?: http.OutgoingHttpHeaders, body?: string | Buffer, host?: string } = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path, method: opts.method ?? 'GET', headers: { host: opts.host ?? 'example.com', ...opts.headers }, agent: false }, res => {
      const chunks: Buffer[] = []
      res.on('data', (c: Buffer) => chunks.push(c))
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString() }))
      res.on('error', reject)
    })
    req.on('error', reject)
    req.end(opts.body)
  })
}

/** Sends raw bytes and returns everything the server answers until it closes or `waitMs` passes idle. */
export function rawRequest (port: number, bytes: string | Buffer, waitMs = 500): Promise<string> {
  return new Promise((resolve, reject) => {
    const sock = net.connect(port, '127.0.0.1')
    const chunks: Buffer[] = []
    let timer = setTimeout(() => sock.destroy(), waitMs)
    sock.on('data', (c: Buffer) => {
      chunks.push(c)
      clearTimeout(timer)
      timer = setTimeout(() => sock.destroy(), waitMs)
    })
    sock.on('close', () => {
      clearTimeout(timer)
      resolve(Buffer.concat(chunks).toString('latin1'))
    })
    sock.on('error', (err: Error & { code?: string }) => {
      if (err.code === 'ECONNRESET') return
      reject(err)
    })
    sock.write(bytes)
  })
}

/** GET an admin path. */
export async function admin (f: RunningFerry, path: string, method = 'GET'): Promise<Reply> {
  return await request(f.adminPort, path, { method, host: '127.0.0.1' })
}

/** The value of one `/stats` line, or undefined. */
export async function stat (f: RunningFerry, name: string): Promise<number | undefined> {
  const text = (await admin(f, '/stats')).body
  for (const line of text.split('\n')) {
    const i = line.lastIndexOf(': ')
    if (i > 0 && line.slice(0, i) === name) return Number(line.slice(i + 2))
  }
  return undefined
}

/** ServiceEntry YAML for a host with STATIC endpoints on 127.0.0.1. */
export function serviceEntry (host: string, port: number, endpoints: Array<{ port: number, labels?: Record<string, string> }>, protocol = 'HTTP'): string {
  const eps = endpoints.map(e => `  - address: 127.0.0.1\n    ports: {http: ${e.port}}\n${e.labels !== undefined ? `    labels: ${JSON.stringify(e.labels)}\n` : ''}`).join('')
  return `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: ${host.split('.')[0]}-se}
spec:
  hosts: [${host}]
  ports: [{number: ${port}, name: http, protocol: ${protocol}}]
  resolution: STATIC
  endpoints:
${eps}---
`
}

/** A Gateway on ${PORT} for every host. */
export const GATEWAY = `apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: gw}
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: \${PORT}, name: http, protocol: HTTP}
    hosts: ["*"]
---
`
