// Regression: the sidecar's inbound cluster connects to the app from 127.0.0.6 (as Istio does),
// but the pool passed the source address as undici's `connect.localAddress`, which undici's
// connector overwrites with the Client option (undefined). The app saw 127.0.0.1.
// Found by test/e2e/sidecar-inbound.test.ts; this one needs no root: 127.0.0.0/8 is all local.

import t from 'tap'
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import { ClusterPools, type RawHandler, type UpstreamConnection } from '../../../src/upstream/connection-pool'
import { CircuitBreakers, UNLIMITED_CIRCUIT_BREAKER_LIMITS } from '../../../src/upstream/circuit-breaker'
import { Host } from '../../../src/upstream/host'
import { StatsStore } from '../../../src/observability/stats'
import { connectionLimits } from '../../../src/model/traffic-policy'

t.test('a pool with a local address connects from it', async (t) => {
  const remotes: string[] = []
  const server = http.createServer((req, res) => {
    remotes.push(req.socket.remoteAddress ?? '')
    res.end('ok')
  })
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => { server.closeAllConnections(); server.close() })
  const port = (server.address() as AddressInfo).port

  const pools = new ClusterPools(connectionLimits(undefined), new CircuitBreakers(UNLIMITED_CIRCUIT_BREAKER_LIMITS), new StatsStore().cluster('inbound|0||'), '127.0.0.6')
  t.teardown(() => pools.close())
  const pool = pools.forHost(new Host('127.0.0.1', port, {}, 1, ''))
  const conn = await new Promise<UpstreamConnection>((resolve, reject) => pool.acquire({ onPoolReady: resolve, onPoolOverflow: () => reject(new Error('overflow')) }))
  const status = await new Promise<number>((resolve, reject) => {
    let code = 0
    const handler: RawHandler = {
      onConnect: () => {},
      onHeaders: (statusCode) => { code = statusCode; return true },
      onData: () => true,
      onComplete: () => resolve(code),
      onError: reject
    }
    conn.dispatch({ origin: `http://127.0.0.1:${port}`, path: '/', method: 'GET' }, handler)
  })
  conn.release(false)
  t.equal(status, 200)
  t.same(remotes, ['127.0.0.6'])
})
