// `ferry run --concurrency N` (N > 1): the primary process. It proxies nothing itself; it
//   - creates the shared-memory segment (circuit breakers, outlier ejection) before forking, so
//     every worker maps the same counters (see src/upstream/shared-memory.ts);
//   - forks N workers with Node's cluster module. Each runs a whole Ferry; the listening sockets
//     belong to the primary, which hands accepted connections to workers round-robin
//     (SCHED_RR; Node 20 has no SO_REUSEPORT option, and round-robin spreads keep-alive
//     connections more evenly than the kernel's accept wake-ups anyway);
//   - owns the admin port (Envoy's admin runs on its main thread too): /stats and
//     /stats/prometheus are gathered from every worker over IPC and merged (stats-merge.ts);
//     POST /reset_counters and /logging go to every worker; /quitquitquit drains everything;
//     every other path is answered by worker 0's admin server on a private loopback port;
//   - in the sidecar role owns the health (15021) and Prometheus (15090) ports: ready only when
//     every worker is, 503 from the moment a drain starts;
//   - restarts a worker that dies unexpectedly, after taking its held breaker slots out of the
//     shared totals;
//   - on SIGTERM/SIGINT tells every worker to drain, waits for them (bounded by the drain
//     duration plus a grace period), removes the segment and exits 0.

import cluster, { type Worker } from 'node:cluster'
import http, { type IncomingMessage, type ServerResponse } from 'node:http'
import * as net from 'node:net'
import { randomBytes } from 'node:crypto'
import * as path from 'node:path'
import type { Logger } from '../observability/logger'
import type { StatsJson } from '../observability/stats'
import { DEFAULT_ENTRIES, SharedSegment } from '../upstream/shared-memory'
import { envoyTextFromJson, mergeEnvoyJson, mergePrometheus } from './stats-merge'
import type { PrimaryMessage, WorkerMessage } from './messages'

export interface PrimaryOptions {
  workers: number
  logger: Logger
  /** Admin `host:port`, null when off. */
  admin: string | null
  drainMs: number
  /** Sidecar role: health and Prometheus ports (-1 off) and their address. */
  sidecar: { health: number, prometheus: number, address: string } | null
  /** Directory for the segment file; /dev/shm unless FERRY_SHM_DIR says otherwise. */
  shmDir?: string
  /**
   * Sidecar capture ports given as 0 (tests): Node's cluster keys shared listening handles by
   * address and port, so two `listen(0)` in one worker would be handed the same handle. The
   * primary picks the free ports once and every worker binds those.
   */
  zeroPorts?: string[]
}

/** `argv` with each `--name 0` / `--name=0` of `names` replaced by a free port. */
async function withFreePorts (argv: readonly string[], names: readonly string[]): Promise<string[]> {
  const out = [...argv]
  for (const name of names) {
    const server = net.createServer()
    await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
    const port = String((server.address() as net.AddressInfo).port)
    await new Promise<void>(resolve => server.close(() => resolve()))
    const i = out.findIndex(a => a === `--${name}` || a.startsWith(`--${name}=`))
    if (i < 0) continue
    if (out[i].includes('=')) out[i] = `--${name}=${port}`
    else out[i + 1] = port
  }
  return out
}

type WithoutId<T> = T extends unknown ? Omit<T, 'id'> : never

/** Grace after the drain duration before a worker that will not exit is killed. */
const KILL_GRACE_MS = 3000
/** A worker that dies this soon after its previous restart is not restarted again at once. */
const RESTART_BACKOFF_MS = 1000

interface Slot {
  worker: Worker | null
  ready: boolean
  adminPort: number
  restarts: number
  lastStart: number
}

export async function runPrimary (opts: PrimaryOptions): Promise<number> {
  const log = opts.logger
  const n = opts.workers
  const dir = opts.shmDir ?? process.env.FERRY_SHM_DIR ?? '/dev/shm'
  const file = path.join(dir, `ferry-${process.pid}-${randomBytes(4).toString('hex')}`)
  let segment: SharedSegment
  try {
    segment = SharedSegment.create(file, { maxWorkers: n, entries: Number(process.env.FERRY_SHM_ENTRIES ?? DEFAULT_ENTRIES) })
  } catch (err) {
    log.error(`--concurrency ${n}: cannot create shared memory (${(err as Error).message}); refusing to run workers with per-worker circuit breakers`)
    return 1
  }

  const slots: Slot[] = Array.from({ length: n }, () => ({ worker: null, ready: false, adminPort: 0, restarts: 0, lastStart: 0 }))
  let draining = false
  let started = false
  let nextId = 1
  const waiting = new Map<number, { left: number, replies: unknown[], done: (replies: unknown[]) => void }>()

  cluster.schedulingPolicy = cluster.SCHED_RR
  cluster.setupPrimary({ exec: process.argv[1], args: await withFreePorts(process.argv.slice(2), opts.zeroPorts ?? []) })

  let resolveExit: (code: number) => void = () => {}
  const exited = new Promise<number>(resolve => { resolveExit = resolve })
  let startupFailed: ((err: Error) => void) | null = null

  const fork = (i: number): void => {
    const slot = slots[i]
    slot.ready = false
    slot.adminPort = 0
    slot.lastStart = Date.now()
    const w = cluster.fork({
      FERRY_WORKER_INDEX: String(i),
      FERRY_WORKERS: String(n),
      FERRY_SHM_PATH: file
    })
    slot.worker = w
    w.on('message', (m: WorkerMessage) => {
      if (m === null || typeof m !== 'object') return
      switch (m.type) {
        case 'ferry:ready':
          slot.ready = true
          slot.adminPort = m.adminPort
          if (!started && slots.every(s => s.ready)) {
            started = true
            log.info(`ready: ${n} workers (pids ${slots.map(s => s.worker?.process.pid).join(', ')}), shared memory ${file}`)
          }
          break
        case 'ferry:reply': {
          const pending = waiting.get(m.id)
          if (pending === undefined) return
          pending.replies.push(m.body)
          if (--pending.left === 0) {
            waiting.delete(m.id)
            pending.done(pending.replies)
          }
          break
        }
      }
    })
    w.on('exit', (code, signal) => {
      if (slot.worker === w) slot.worker = null
      slot.ready = false
      // Slots it held (connections, pending requests, in-flight requests and retries) go back.
      segment.reclaimWorker(i)
      // A worker gone mid-scrape would leave the scrape waiting: answer with what there is.
      for (const [id, p] of waiting) {
        if (--p.left === 0) {
          waiting.delete(id)
          p.done(p.replies)
        }
      }
      if (draining) {
        if (slots.every(s => s.worker === null)) resolveExit(0)
        return
      }
      if (!started) {
        // Config errors and bind failures happen in every worker alike: do not loop on them.
        startupFailed?.(new Error(`worker ${i} exited during startup (${signal ?? `code ${code}`})`))
        return
      }
      log.error(`worker ${i} (pid ${w.process.pid}) died (${signal ?? `code ${code}`}); restarting it`)
      slot.restarts++
      const wait = Date.now() - slot.lastStart < RESTART_BACKOFF_MS ? RESTART_BACKOFF_MS : 0
      setTimeout(() => { if (!draining) fork(i) }, wait).unref()
    })
  }

  /** Sends a request to every live worker and resolves with their replies. */
  const ask = (msg: WithoutId<Extract<PrimaryMessage, { id: number }>>): Promise<unknown[]> => {
    const live = slots.map(s => s.worker).filter((w): w is Worker => w !== null && w.isConnected())
    if (live.length === 0) return Promise.resolve([])
    const id = nextId++
    return new Promise(resolve => {
      waiting.set(id, { left: live.length, replies: [], done: resolve })
      for (const w of live) w.send({ ...msg, id } as PrimaryMessage)
    })
  }

  const allReady = (): boolean => !draining && slots.every(s => s.ready)

  const stats = async (format: 'json' | 'prometheus', filter: string | null): Promise<string | StatsJson> => {
    const replies = await ask({ type: 'ferry:stats', format, filter })
    if (format === 'prometheus') return mergePrometheus(replies as string[], n)
    return mergeEnvoyJson(replies as Array<{ json: StatsJson, counts: Record<string, number> }>, n)
  }

  const servers: http.Server[] = []
  const serve = async (what: string, hostPort: string, handler: (req: IncomingMessage, res: ServerResponse) => Promise<void>): Promise<http.Server> => {
    const i = hostPort.lastIndexOf(':')
    const host = i > 0 ? hostPort.slice(0, i).replace(/^\[|\]$/g, '') : '127.0.0.1'
    const port = Number(i >= 0 ? hostPort.slice(i + 1) : hostPort)
    const server = http.createServer((req, res) => {
      handler(req, res).catch((err: Error) => { if (!res.headersSent) send(res, 500, `${err.message}\n`) })
    })
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject)
      server.listen(port, host, () => { server.off('error', reject); resolve() })
    })
    servers.push(server)
    log.info(`primary: ${what} on ${host}:${(server.address() as net.AddressInfo).port}`)
    return server
  }

  const shutdown = (why: string): void => {
    if (draining) return
    draining = true
    log.info(`${why}: draining ${n} workers for up to ${opts.drainMs} ms`)
    for (const s of slots) {
      if (s.worker !== null && s.worker.isConnected()) s.worker.send({ type: 'ferry:drain' } satisfies PrimaryMessage)
    }
    if (slots.every(s => s.worker === null)) resolveExit(0)
    setTimeout(() => {
      for (const s of slots) {
        if (s.worker !== null) {
          log.warn(`worker pid ${s.worker.process.pid} still running after the drain period; killing it`)
          s.worker.process.kill('SIGKILL')
        }
      }
    }, opts.drainMs + KILL_GRACE_MS).unref()
  }

  try {
    await new Promise<void>((resolve, reject) => {
      startupFailed = reject
      for (let i = 0; i < n; i++) fork(i)
      const check = setInterval(() => {
        if (started) {
          clearInterval(check)
          startupFailed = null
          resolve()
        }
      }, 10)
    })
    if (opts.admin !== null) {
      await serve('admin', opts.admin, async (req, res) => adminRequest(req, res))
    }
    if (opts.sidecar !== null && opts.sidecar.health >= 0) {
      await serve('health', `${opts.sidecar.address}:${opts.sidecar.health}`, async (req, res) => {
        if ((req.url ?? '/').split('?')[0] === '/healthz/ready') send(res, allReady() ? 200 : 503, allReady() ? '' : 'not ready')
        else send(res, 404, '')
      })
    }
    if (opts.sidecar !== null && opts.sidecar.prometheus >= 0) {
      await serve('prometheus', `${opts.sidecar.address}:${opts.sidecar.prometheus}`, async (req, res) => {
        if ((req.url ?? '/').split('?')[0] === '/stats/prometheus') send(res, 200, await stats('prometheus', null) as string, 'text/plain; version=0.0.4')
        else send(res, 404, '')
      })
    }
  } catch (err) {
    log.error(`start failed: ${(err as Error).message}`)
    draining = true
    for (const s of slots) s.worker?.process.kill('SIGKILL')
    await new Promise(resolve => setTimeout(resolve, 100))
    segment.unlink()
    for (const s of servers) s.close()
    return 1
  }

  async function adminRequest (req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://admin')
    const method = req.method ?? 'GET'
    const q = url.searchParams
    if (method === 'GET' && (url.pathname === '/stats' || url.pathname === '/stats/prometheus')) {
      const filter = q.get('filter')
      if (filter !== null) {
        try { new RegExp(filter) } catch { send(res, 400, `invalid regex: ${filter}\n`); return } // eslint-disable-line no-new
      }
      const format = url.pathname === '/stats/prometheus' ? 'prometheus' : q.get('format')
      if (format === 'prometheus') {
        send(res, 200, await stats('prometheus', null) as string, 'text/plain; version=0.0.4')
        return
      }
      const json = await stats('json', filter) as StatsJson
      if (format === 'json') send(res, 200, JSON.stringify(json, null, 2) + '\n', 'application/json')
      else send(res, 200, envoyTextFromJson(json))
      return
    }
    if (method === 'GET' && url.pathname === '/ready') {
      send(res, allReady() ? 200 : 503, allReady() ? 'LIVE\n' : draining ? 'DRAINING\n' : 'PRE_INITIALIZING\n')
      return
    }
    if (method === 'POST' && url.pathname === '/quitquitquit') {
      send(res, 200, 'OK\n')
      setImmediate(() => shutdown('/quitquitquit'))
      return
    }
    if (method === 'POST' && url.pathname === '/reset_counters') {
      await ask({ type: 'ferry:reset_counters' })
      send(res, 200, 'OK\n')
      return
    }
    if (method === 'POST' && url.pathname === '/logging') {
      const replies = await ask({ type: 'ferry:logging', level: q.get('level') })
      const bad = replies.find(r => typeof r === 'string' && r.startsWith('unknown'))
      if (typeof bad === 'string') send(res, 400, bad)
      else {
        const level = q.get('level')
        if (level !== null && ['debug', 'info', 'warn', 'error'].includes(level)) log.setLevel(level as 'info')
        send(res, 200, `active loggers:\n  ferry: ${log.level}\n`)
      }
      return
    }
    // Everything else describes config and clusters, which every worker has alike: worker 0 answers.
    const target = slots.find(s => s.worker !== null && s.adminPort > 0)
    if (target === undefined) {
      send(res, 503, 'no worker available\n')
      return
    }
    const upstream = http.request({ host: '127.0.0.1', port: target.adminPort, method, path: req.url, headers: req.headers }, up => {
      res.writeHead(up.statusCode ?? 502, up.headers)
      up.pipe(res)
    })
    upstream.on('error', err => { if (!res.headersSent) send(res, 502, `${err.message}\n`) })
    req.pipe(upstream)
  }

  process.once('SIGTERM', () => shutdown('SIGTERM'))
  process.once('SIGINT', () => shutdown('SIGINT'))
  const code = await exited
  for (const s of servers) {
    s.closeAllConnections()
    s.close()
  }
  segment.unlink()
  log.info('all workers stopped')
  return code
}

function send (res: ServerResponse, status: number, body: string, type = 'text/plain; charset=UTF-8'): void {
  res.writeHead(status, { 'content-type': type, 'content-length': Buffer.byteLength(body), 'cache-control': 'no-cache, max-age=0' })
  res.end(body)
}
