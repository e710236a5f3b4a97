// The sidecar's health (15021 `/healthz/ready`) and Prometheus (15090 `/stats/prometheus`)
// ports: what kubelet probes and Prometheus scrapes, kept off the admin port, which stays on
// localhost.

import http from 'node:http'
import type { StatsStore } from '../observability/stats'
import { boundPort, closeNow, listenOn } from '../listener/listen'

export class HealthServer {
  private readonly server: http.Server

  constructor (ready: () => boolean, stats: StatsStore, kind: 'health' | 'prometheus') {
    this.server = http.createServer((req, res) => {
      const path = (req.url ?? '/').split('?')[0]
      if (kind === 'health' && path === '/healthz/ready') {
        const ok = ready()
        res.writeHead(ok ? 200 : 503, { 'content-type': 'text/plain', 'content-length': ok ? 0 : 9 })
        res.end(ok ? '' : 'not ready')
        return
      }
      if (kind === 'prometheus' && path === '/stats/prometheus') {
        stats.prometheus().then(body => {
          res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4', 'content-length': Buffer.byteLength(body) })
          res.end(body)
        }, () => { res.writeHead(500); res.end() })
        return
      }
      res.writeHead(404, { 'content-length': 0 })
      res.end()
    })
  }

  listen (port: number, address: string): Promise<void> {
    return listenOn(this.server, port, address)
  }

  get port (): number {
    return boundPort(this.server)
  }

  close (): Promise<void> {
    return closeNow(this.server)
  }
}
