// The admin API (Envoy's :15000), with Envoy's paths and output formats so the tools and
// habits Istio users have (istioctl proxy-config, curl localhost:15000/clusters) carry over.

import http, { type IncomingMessage, type ServerResponse } from 'node:http'
import type { Ferry } from '../ferry'
import { isLogLevel } from '../observability/logger'
import { clustersJson, clustersText } from './clusters'
import { configDump } from './config-dump'
import { boundPort, closeNow, listenOn } from '../listener/listen'

const VERSION = '0.1.0'

export class AdminServer {
  private readonly server: http.Server
  private readonly startedAt = Date.now()
  /** `POST /healthcheck/fail` makes readiness fail until `/healthcheck/ok`. */
  healthFailed = false

  constructor (private readonly ferry: Ferry) {
    this.server = http.createServer((req, res) => {
      this.handle(req, res).catch((err: Error) => {
        if (!res.headersSent) send(res, 500, `${err.message}\n`)
      })
    })
  }

  listen (hostPort: string): Promise<void> {
    const i = hostPort.lastIndexOf(':')
    const host = i > 0 ? hostPort.slice(0, i).replace(/^\[|\]$/g, '') : '127.0.0.1'
    const port = Number(i >= 0 ? hostPort.slice(i + 1) : hostPort)
    return listenOn(this.server, port, host)
  }

  get port (): number {
    return boundPort(this.server)
  }

  close (): Promise<void> {
    return closeNow(this.server)
  }

  private async handle (req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://admin')
    const q = url.searchParams
    const ferry = this.ferry
    const method = req.method ?? 'GET'
    switch (url.pathname) {
      case '/ready':
        if (ferry.isReady && !this.healthFailed) send(res, 200, 'LIVE\n')
        else send(res, 503, ferry.isReady ? 'DRAINING\n' : 'PRE_INITIALIZING\n')
        return
      case '/server_info':
        sendJson(res, {
          version: `ferry/${VERSION}`,
          state: ferry.isReady ? 'LIVE' : 'PRE_INITIALIZING',
          command_line_options: { concurrency: Number(process.env.FERRY_WORKERS ?? 1), log_level: ferry.log.level },
          node: { id: ferry.proxy.nodeId },
          uptime_current_epoch: `${Math.floor((Date.now() - this.startedAt) / 1000)}s`,
          uptime_all_epochs: `${Math.floor((Date.now() - this.startedAt) / 1000)}s`,
          config_version: ferry.snapshot.version
        })
        return
      case '/config_dump':
        sendJson(res, configDump(ferry.snapshot))
        return
      case '/clusters':
        if (q.get('format') === 'json') sendJson(res, clustersJson(ferry.snapshot))
        else send(res, 200, clustersText(ferry.snapshot))
        return
      case '/listeners': {
        const ls = ferry.listenerAddresses()
        if (q.get('format') === 'json') {
          sendJson(res, { listener_statuses: ls.map(l => ({ name: l.name, local_address: { socket_address: { address: l.address, port_value: l.port } } })) })
        } else {
          send(res, 200, ls.map(l => `${l.name}::${l.address}:${l.port}\n`).join(''))
        }
        return
      }
      case '/stats': {
        const filter = q.get('filter')
        let re: RegExp | undefined
        if (filter !== null) {
          try {
            re = new RegExp(filter)
          } catch {
            send(res, 400, `invalid regex: ${filter}\n`)
            return
          }
        }
        const format = q.get('format')
        if (format === 'json') sendJson(res, ferry.stats.json(re))
        else if (format === 'prometheus') send(res, 200, await ferry.stats.prometheus(), 'text/plain; version=0.0.4')
        else send(res, 200, ferry.stats.envoyText(re))
        return
      }
      case '/stats/prometheus':
        send(res, 200, await ferry.stats.prometheus(), 'text/plain; version=0.0.4')
        return
    }
    if (method !== 'POST') {
      send(res, url.pathname === '/' ? 200 : 404, url.pathname === '/' ? helpText() : `invalid path: ${url.pathname}\n`)
      return
    }
    switch (url.pathname) {
      case '/logging': {
        const level = q.get('level')
        if (level !== null) {
          if (!isLogLevel(level)) {
            send(res, 400, `unknown level ${level}; use debug, info, warn or error\n`)
            return
          }
          ferry.log.setLevel(level)
        }
        send(res, 200, `active loggers:\n  ferry: ${ferry.log.level}\n`)
        return
      }
      case '/reset_counters':
        ferry.stats.resetCounters()
        send(res, 200, 'OK\n')
        return
      case '/healthcheck/fail':
        this.healthFailed = true
        send(res, 200, 'OK\n')
        return
      case '/healthcheck/ok':
        this.healthFailed = false
        send(res, 200, 'OK\n')
        return
      case '/quitquitquit':
        send(res, 200, 'OK\n')
        setImmediate(() => process.kill(process.pid, 'SIGTERM'))
        return
      case '/drain_listeners':
        send(res, 200, 'OK\n')
        return
    }
    send(res, 404, `invalid path: ${url.pathname}\n`)
  }
}

function helpText (): string {
  return [
    'admin commands are:',
    '  /clusters: upstream cluster status (?format=json)',
    '  /config_dump: dump current config',
    '  /listeners: print listener info (?format=json)',
    '  /ready: print server state, return 200 if LIVE, otherwise return 503',
    '  /server_info: print server version/status information',
    '  /stats: print server stats (?filter=regex, ?format=json|prometheus)',
    '  /stats/prometheus: print server stats in prometheus format',
    '  POST /logging?level=debug|info|warn|error: change the log level',
    '  POST /reset_counters: reset all counters to zero',
    '  POST /healthcheck/fail, /healthcheck/ok: fail or restore readiness',
    '  POST /quitquitquit: exit the server',
    ''
  ].join('\n')
}

function send (res: ServerResponse, status: number, body: string, type = 'text/plain; charset=UTF-8'): void {
  res.writeHead(status, { 'content-type': type, 'content-length': Buffer.byteLength(body), 'cache-control': 'no-cache, max-age=0' })
  res.end(body)
}

function sendJson (res: ServerResponse, body: unknown): void {
  send(res, 200, JSON.stringify(body, null, 2) + '\n', 'application/json')
}
