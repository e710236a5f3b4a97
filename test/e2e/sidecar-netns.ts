// A two-namespace "pod" for the sidecar e2e tests: `pod` holds the app and Ferry (uid 1337,
// rules from `ferry init`), `srv` holds the upstream servers, joined by a veth pair. Every
// address used here (10.250.0.0/24 on the veth, 10.96.0.0/16 service VIPs) exists only inside
// these namespaces, and every packet stays inside them. Nothing is created in the host namespace.

import { spawn, spawnSync, type ChildProcess, type SpawnSyncReturns } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { chmodSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import * as path from 'node:path'

export const ROOT = path.resolve(__dirname, '../..')
export const FERRY_BIN = path.join(ROOT, 'bin/ferry.js')
export const POD_IP = '10.250.0.1'
export const SRV_IP = '10.250.0.2'
export const PROXY_UID = 1337
/** The injector's flags, exactly as Istio's sidecar injector passes them to istio-iptables. */
export const INIT_FLAGS = ['-p', '15001', '-z', '15006', '-u', '1337', '-g', '1337', '-m', 'REDIRECT', '-i', '*', '-x', '', '-b', '*', '-d', '15090,15021,15020']

function sh (file: string, args: string[]): SpawnSyncReturns<string> {
  return spawnSync(file, args, { encoding: 'utf8', timeout: 30_000 })
}

/** Why these tests cannot run here, or null. Only a missing privilege or tool is a reason. */
export function netnsSkipReason (): string | null {
  if (process.platform !== 'linux') return 'network namespaces and iptables need Linux'
  if (process.getuid?.() !== 0) return 'needs root to create network namespaces and program iptables (CI runs as root)'
  if (sh('iptables', ['--version']).status !== 0) return 'iptables is not installed (apt-get install -y iptables)'
  if (sh('ip', ['netns', 'list']).status !== 0) return "'ip netns' is not available (iproute2)"
  if (sh('setpriv', ['--version']).status !== 0) return 'setpriv is not installed (util-linux)'
  return null
}

// ------------------------------------------------------------------ scripts run inside the namespaces

/**
 * Upstream / app server. argv[2]: {host, http: [{port, name}], echo: [port]}. Every HTTP answer
 * is JSON naming the server and what it saw; `/slow?ms=N` answers after N ms. One line of JSON
 * on stdout per request or echo connection, and `{"event":"listening"}` once every port is bound.
 */
const SERVER_JS = `
const http = require('node:http')
const net = require('node:net')
const spec = JSON.parse(process.argv[2])
let pending = spec.http.length + spec.echo.length
const up = () => { if (--pending === 0) console.log(JSON.stringify({ event: 'listening' })) }
for (const h of spec.http) {
  http.createServer((req, res) => {
    console.log(JSON.stringify({ event: 'request', server: h.name, url: req.url }))
    const u = new URL(req.url, 'http://x')
    const ms = u.pathname === '/slow' ? Number(u.searchParams.get('ms')) : 0
    req.resume()
    req.on('end', () => setTimeout(() => {
      const body = JSON.stringify({ server: h.name, url: req.url, headers: req.headers, remote: req.socket.remoteAddress, local: req.socket.localAddress + ':' + req.socket.localPort })
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) })
      res.end(body)
    }, ms))
  }).listen(h.port, spec.host, up)
}
for (const port of spec.echo) {
  net.createServer((s) => {
    console.log(JSON.stringify({ event: 'tcp', port, remote: s.remoteAddress }))
    s.on('error', () => {})
    s.pipe(s)
  }).listen(port, spec.host, up)
}
process.on('SIGTERM', () => process.exit(0))
`

/**
 * One client call; argv[2] is the request, stdout the outcome as JSON.
 * http: {kind, host, port, path, headers} -> {status, headers, body} | {error}
 * tcp:  {kind, host, port, send} -> {data, closed, error}: waits for as many bytes as it sent.
 */
const CLIENT_JS = `
const http = require('node:http')
const net = require('node:net')
const r = JSON.parse(process.argv[2])
const done = (o) => { process.stdout.write(JSON.stringify(o)); process.exit(0) }
setTimeout(() => done({ error: 'client timeout' }), r.timeoutMs || 10000).unref()
if (r.kind === 'http') {
  const req = http.request({ host: r.host, port: r.port, path: r.path || '/', headers: r.headers || {}, agent: false }, (res) => {
    const chunks = []
    res.on('data', (c) => chunks.push(c))
    res.on('end', () => done({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks).toString() }))
    res.on('error', (e) => done({ status: res.statusCode, error: e.code || e.message }))
  })
  req.on('error', (e) => done({ error: e.code || e.message }))
  req.end()
} else {
  const s = net.connect(r.port, r.host)
  let data = ''
  let error = null
  s.on('connect', () => s.write(r.send))
  s.on('data', (c) => { data += c; if (data.length >= r.send.length) { s.end(); done({ data, closed: false, error }) } })
  s.on('error', (e) => { error = e.code || e.message })
  s.on('close', () => done({ data, closed: true, error }))
}
`

/** Polls an HTTP URL until it answers 200 or the deadline passes (bounded; no fixed sleeps). */
const WAIT_READY_JS = `
const http = require('node:http')
const url = process.argv[2]
const deadline = Date.now() + Number(process.argv[3])
const seen = []
const attempt = () => {
  const req = http.get(url, { agent: false }, (res) => {
    res.resume()
    seen.push(res.statusCode)
    if (res.statusCode === 200) { console.log(JSON.stringify({ ready: true, seen })); process.exit(0) }
    retry()
  })
  req.on('error', (e) => { seen.push(e.code); retry() })
  req.setTimeout(1000, () => req.destroy(new Error('timeout')))
}
const retry = () => {
  if (Date.now() > deadline) { console.log(JSON.stringify({ ready: false, seen: seen.slice(-5) })); process.exit(1) }
  setTimeout(attempt, 50)
}
attempt()
`

// ------------------------------------------------------------------ processes

export interface RunResult { code: number | null, signal: NodeJS.Signals | null, stdout: string, stderr: string }

/** A long-running child whose output is kept for assertions and diagnostics. */
export class Proc {
  stdout = ''
  stderr = ''
  readonly exited: Promise<RunResult>
  private exitResult: RunResult | null = null

  constructor (readonly child: ChildProcess, readonly label: string) {
    child.stdout?.setEncoding('utf8').on('data', (c: string) => { this.stdout += c })
    child.stderr?.setEncoding('utf8').on('data', (c: string) => { this.stderr += c })
    this.exited = new Promise(resolve => {
      child.once('close', (code, signal) => {
        this.exitResult = { code, signal, stdout: this.stdout, stderr: this.stderr }
        resolve(this.exitResult)
      })
    })
  }

  get running (): boolean {
    return this.exitResult === null
  }

  /** Resolves when a stdout line satisfies `test`, rejects after `ms` or if the process exits first. */
  async waitForLine (test: (line: string) => boolean, ms: number): Promise<string> {
    const deadline = Date.now() + ms
    for (;;) {
      const line = this.stdout.split('\n').find(test)
      if (line !== undefined) return line
      if (!this.running) throw new Error(`${this.label} exited before the expected output:\n${this.stdout}\n${this.stderr}`)
      if (Date.now() > deadline) throw new Error(`${this.label}: expected output not seen within ${ms} ms:\n${this.stdout}\n${this.stderr}`)
      await new Promise(resolve => setTimeout(resolve, 20))
    }
  }

  kill (): void {
    if (this.running && this.child.pid !== undefined) this.child.kill('SIGKILL')
  }
}

export interface FerryRun {
  proc: Proc
  /** Ferry's own log (stdout + stderr), for failure messages. */
  log: () => string
}

/** The pair of namespaces and everything started in them; `close()` removes all of it. */
export class PodNetwork {
  readonly id = randomBytes(4).toString('hex')
  readonly pod = `ferry-e2e-${this.id}-pod`
  readonly srv = `ferry-e2e-${this.id}-srv`
  readonly dir: string
  private readonly procs: Proc[] = []
  private readonly namespaces: string[] = []

  constructor () {
    // Ferry runs as uid 1337 and must read its config: a fresh directory, world-readable.
    this.dir = mkdtempSync(path.join(tmpdir(), 'ferry-e2e-'))
    chmodSync(this.dir, 0o755)
    this.write('server.js', SERVER_JS)
    this.write('client.js', CLIENT_JS)
    this.write('wait-ready.js', WAIT_READY_JS)
  }

  write (name: string, text: string): string {
    const file = path.join(this.dir, name)
    writeFileSync(file, text)
    chmodSync(file, 0o644)
    return file
  }

  /** Creates both namespaces and the veth link; the pod's default route points at `srv`. */
  setUp (): void {
    for (const ns of [this.pod, this.srv]) {
      this.must('ip', ['netns', 'add', ns])
      // Recorded as soon as it exists, so close() removes it even when a later step throws.
      this.namespaces.push(ns)
      this.mustIn(ns, 'ip', ['link', 'set', 'lo', 'up'])
    }
    this.mustIn(this.pod, 'ip', ['link', 'add', 'vpod', 'type', 'veth', 'peer', 'name', 'vsrv', 'netns', this.srv])
    this.mustIn(this.pod, 'ip', ['addr', 'add', `${POD_IP}/24`, 'dev', 'vpod'])
    this.mustIn(this.pod, 'ip', ['link', 'set', 'vpod', 'up'])
    this.mustIn(this.srv, 'ip', ['addr', 'add', `${SRV_IP}/24`, 'dev', 'vsrv'])
    this.mustIn(this.srv, 'ip', ['link', 'set', 'vsrv', 'up'])
    // The VIPs need a route for connect() to emit a SYN that OUTPUT can REDIRECT; nothing in
    // `srv` answers on them, so only the capture can make a VIP work.
    this.mustIn(this.pod, 'ip', ['route', 'add', 'default', 'via', SRV_IP, 'dev', 'vpod'])
  }

  private must (file: string, args: string[]): SpawnSyncReturns<string> {
    const r = sh(file, args)
    if (r.status !== 0) throw new Error(`${file} ${args.join(' ')} exited ${String(r.status)}: ${r.stderr}`)
    return r
  }

  mustIn (ns: string, file: string, args: string[]): SpawnSyncReturns<string> {
    return this.must('ip', ['netns', 'exec', ns, file, ...args])
  }

  /** `ferry init` with the injector's flags, run in the pod namespace through the real CLI. */
  init (flags: string[] = INIT_FLAGS): SpawnSyncReturns<string> {
    return this.mustIn(this.pod, process.execPath, [FERRY_BIN, 'init', ...flags])
  }

  /** Starts a long-running program in a namespace (as root unless `uid` is given). */
  start (ns: string, label: string, argv: string[], uid?: number): Proc {
    const drop = uid === undefined ? [] : ['setpriv', '--reuid', String(uid), '--regid', String(uid), '--clear-groups']
    // `ip netns exec` and setpriv both exec, so the child's pid is the program's own pid and a
    // signal sent to it reaches the program itself.
    const child = spawn('ip', ['netns', 'exec', ns, ...drop, ...argv], { stdio: ['ignore', 'pipe', 'pipe'], cwd: this.dir })
    const p = new Proc(child, label)
    this.procs.push(p)
    return p
  }

  /** Upstream servers in `srv` (or the app in `pod`): resolves once every port is bound. */
  async startServers (ns: string, host: string, http: Array<{ port: number, name: string }>, echo: number[] = []): Promise<Proc> {
    const p = this.start(ns, `servers in ${ns}`, [process.execPath, path.join(this.dir, 'server.js'), JSON.stringify({ host, http, echo })])
    await p.waitForLine(l => l.includes('"listening"'), 10_000)
    return p
  }

  /** Ferry in the sidecar role, as uid 1337 in the pod namespace, resolved when /healthz/ready is 200. */
  async startFerry (configDir: string, extra: string[] = []): Promise<FerryRun> {
    if (!existsSync(path.join(ROOT, 'dist/cli/main.js'))) throw new Error('dist/ is missing: run `npx tsc -p .` (npm ci does it)')
    const proc = this.start(this.pod, 'ferry', [process.execPath, FERRY_BIN, 'run', '--role', 'sidecar', '--config', configDir, '--namespace', 'default', '--admin', '127.0.0.1:15000', ...extra], PROXY_UID)
    const log = (): string => `--- ferry log ---\n${proc.stdout}${proc.stderr}`
    const ready = await this.waitReady(30_000)
    if (!ready.ready) throw new Error(`ferry not ready (${JSON.stringify(ready.seen)}):\n${log()}`)
    return { proc, log }
  }

  async waitReady (ms: number): Promise<{ ready: boolean, seen: unknown[] }> {
    const r = await this.run(this.pod, [path.join(this.dir, 'wait-ready.js'), 'http://127.0.0.1:15021/healthz/ready', String(ms)])
    return JSON.parse(r.stdout) as { ready: boolean, seen: unknown[] }
  }

  /** Runs a node script in a namespace to completion. */
  run (ns: string, args: string[], uid?: number): Promise<RunResult> {
    const p = this.start(ns, `node ${args[0]}`, [process.execPath, ...args], uid)
    return p.exited
  }

  /** One client call from a namespace (see CLIENT_JS); `uid` picks the app's identity. */
  async call<T> (ns: string, request: Record<string, unknown>, uid?: number): Promise<T> {
    const r = await this.run(ns, [path.join(this.dir, 'client.js'), JSON.stringify(request)], uid)
    if (r.code !== 0) throw new Error(`client exited ${String(r.code)}: ${r.stderr}`)
    return JSON.parse(r.stdout) as T
  }

  /** Ferry's admin /stats as name -> value, read from inside the pod. */
  async stats (filter: string): Promise<Map<string, number>> {
    const r = await this.call<HttpResult>(this.pod, { kind: 'http', host: '127.0.0.1', port: 15000, path: `/stats?filter=${encodeURIComponent(filter)}` })
    if (r.status !== 200) throw new Error(`/stats answered ${String(r.status)}: ${r.body ?? r.error ?? ''}`)
    const out = new Map<string, number>()
    for (const line of (r.body ?? '').split('\n')) {
      const m = /^(\S+): (\d+)$/.exec(line)
      if (m !== null) out.set(m[1], Number(m[2]))
    }
    return out
  }

  /** Kills everything still running, deletes both namespaces and the temp dir. Never throws. */
  close (): void {
    for (const p of this.procs) p.kill()
    for (const ns of this.namespaces) sh('ip', ['netns', 'del', ns])
    rmSync(this.dir, { recursive: true, force: true })
  }
}

export interface HttpResult {
  status?: number
  headers?: Record<string, string>
  body?: string
  error?: string
}

export interface TcpResult {
  data: string
  closed: boolean
  error: string | null
}

/** The JSON an upstream (or the app) answers with. */
export interface Seen {
  server: string
  url: string
  headers: Record<string, string>
  remote: string
  local: string
}

/** Writes Istio YAML into a fresh sub-directory uid 1337 can read; returns its path. */
export function writeConfig (net: PodNetwork, name: string, yaml: string): string {
  const dir = path.join(net.dir, name)
  mkdirReadable(dir)
  const file = path.join(dir, 'istio.yaml')
  writeFileSync(file, yaml)
  chmodSync(file, 0o644)
  return dir
}

function mkdirReadable (dir: string): void {
  rmSync(dir, { recursive: true, force: true })
  mkdirSync(dir)
  chmodSync(dir, 0o755)
}
