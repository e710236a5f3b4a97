// Traffic mirroring (`mirror`/`mirrors`): a fire-and-forget copy of the request to another
// cluster, with `-shadow` appended to the authority as Envoy does. Its answer is read and
// dropped; its failures are counted on its own cluster and never touch the real request.

import type { ActiveRequest } from './active-request'
import { splitAuthority } from '../routing/host-names'
import type { MirrorTarget } from '../model/snapshot'


export function sendMirrors (request: ActiveRequest, mirrors: readonly MirrorTarget[]): void {
  const random = request.ctx.proxy.random
  for (const m of mirrors) {
    if (m.percent < 100 && random() * 100 >= m.percent) continue
    const cluster = request.snapshot.clusters.get(m.clusterName)
    if (cluster === undefined) continue
    const host = cluster.lb.chooseHost({ hashKey: null, attempted: null })
    if (host === null) continue
    const headers = { ...request.upstreamHeaders }
    const authority = String(headers.host ?? request.view.authority)
    const { host: name, port } = splitAuthority(authority)
    headers.host = port === null ? `${name}-shadow` : `${name}-shadow:${port}`
    const body = request.body
    const opts = { ...request.dispatchOptions(), headers: headers as Record<string, string | string[]>, body: Buffer.isBuffer(body) ? body : null }
    cluster.stats.upstream_rq_total.inc()
    const pool = cluster.pools.forHost(host)
    pool.acquire({
      onPoolReady (conn) {
        conn.dispatch(opts, {
          onConnect () {},
          onHeaders (status: number) { cluster.stats.responseCode(status); return true },
          onData () { return true },
          onComplete () { conn.release(true) },
          onError () { conn.release(false) }
        })
      },
      onPoolOverflow () {}
    })
  }
}

