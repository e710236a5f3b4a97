// L4 forwarding (Envoy's tcp_proxy): one downstream connection spliced to one upstream
// connection of a cluster, under the cluster's max_connections breaker and outlier detector.

import net from 'node:net'
import type { Cluster } from '../upstream/cluster'
import type { ConnectionTarget } from './context'
import type { IstioTcpRecorder } from '../observability/stats'

export interface TcpProxyOptions {
  /** Bytes already read from the client while sniffing its protocol. */
  head: Buffer | null
  target: ConnectionTarget | null
  localAddress: string | null
  recorder: IstioTcpRecorder | null
}

export function proxyTcp (client: net.Socket, cluster: Cluster, opts: TcpProxyOptions): void {
  const stats = cluster.stats
  const breakers = cluster.breakers
  // Taken in one step (workers may share the limit); given back if no host can take it.
  if (!breakers.connections.tryInc()) {
    stats.upstream_cx_overflow.inc()
    client.destroy()
    return
  }
  const host = cluster.lb.chooseHost({ hashKey: client.remoteAddress ?? null, attempted: null, originalDst: opts.target })
  if (host === null) {
    breakers.connections.dec()
    client.destroy()
    return
  }
  host.activeRequests++
  stats.upstream_cx_total.inc()
  stats.upstream_cx_active.inc()
  opts.recorder?.opened()
  const upstream = net.connect({
    host: host.address,
    port: host.port,
    ...(opts.localAddress !== null ? { localAddress: opts.localAddress } : {})
  })
  const connectTimer = setTimeout(() => {
    stats.upstream_cx_connect_timeout.inc()
    upstream.destroy(Object.assign(new Error('connect timeout'), { code: 'ETIMEDOUT' }))
  }, cluster.spec.limits.connectTimeoutMs)
  let connected = false
  let closed = false
  const finish = (flags: string): void => {
    if (closed) return
    closed = true
    clearTimeout(connectTimer)
    breakers.connections.dec()
    host.activeRequests--
    stats.upstream_cx_active.dec()
    stats.upstream_cx_destroy.inc()
    opts.recorder?.sent(upstream.bytesWritten)
    opts.recorder?.received(upstream.bytesRead)
    stats.upstream_cx_tx_bytes_total.inc(upstream.bytesWritten)
    stats.upstream_cx_rx_bytes_total.inc(upstream.bytesRead)
    opts.recorder?.closed(flags)
    client.destroy()
    upstream.destroy()
  }
  upstream.once('connect', () => {
    connected = true
    clearTimeout(connectTimer)
    cluster.outlier.putLocalOriginSuccess(host)
    if (opts.head !== null && opts.head.length > 0) upstream.write(opts.head)
    client.pipe(upstream)
    upstream.pipe(client)
  })
  upstream.on('error', () => {
    if (!connected) {
      stats.upstream_cx_connect_fail.inc()
      cluster.outlier.putLocalOriginFailure(host, 'connect-failure')
      finish('UF')
      return
    }
    finish('UC')
  })
  client.on('error', () => finish('DC'))
  upstream.on('close', () => finish('-'))
  client.on('close', () => finish('-'))
}
