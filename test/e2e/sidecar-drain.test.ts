// Shutdown of the sidecar for real: SIGTERM while the app's request through a VIP is still at
// the upstream. Readiness turns 503, the listeners stop accepting, the request finishes with
// 200, and the process exits 0 by itself within --drain-duration. A request that outlives the
// drain period does not keep the process alive.
// Needs root, iptables and iproute2 (CI has them); see sidecar-netns.ts for the topology.

import t from 'tap'
import * as path from 'node:path'
import { SRV_IP, PodNetwork, netnsSkipReason, writeConfig, type HttpResult, type Seen } from './sidecar-netns'

const APP_UID = 1000

const CONFIG = `
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: slow}
spec:
  hosts: [slow.default.svc.cluster.local]
  addresses: [10.96.0.40]
  location: MESH_INTERNAL
  ports: [{number: 80, name: http, protocol: HTTP}]
  resolution: STATIC
  endpoints:
  - {address: ${SRV_IP}, ports: {http: 9081}}
`

const reason = netnsSkipReason()
if (reason !== null) {
  t.comment(`skipping sidecar drain e2e: ${reason}`)
  t.pass('skipped', { skip: reason })
} else {
  const net = new PodNetwork()
  t.teardown(() => net.close())

  t.test('SIGTERM drains', async (t) => {
    net.setUp()
    const upstream = await net.startServers(net.srv, SRV_IP, [{ port: 9081, name: 'slow' }])
    net.init()
    const config = writeConfig(net, 'config', CONFIG)
    const client = path.join(net.dir, 'client.js')
    const requestsFor = (url: string): number => upstream.stdout.split('\n').filter(l => l.includes(`"url":"${url}"`)).length

    t.test('an in-flight request finishes with 200 and the process exits 0 within the drain duration', async (t) => {
      const drainMs = 6000
      const ferry = await net.startFerry(config, ['--drain-duration', `${drainMs}ms`])
      const before = await net.call<HttpResult>(net.pod, { kind: 'http', host: '127.0.0.1', port: 15021, path: '/healthz/ready' })
      t.equal(before.status, 200, '/healthz/ready answers 200 once Ferry is up')
      const slow = net.start(net.pod, 'slow request', [process.execPath, client, JSON.stringify({ kind: 'http', host: '10.96.0.40', port: 80, path: '/slow?ms=3000', timeoutMs: 15_000 })], APP_UID)
      await upstream.waitForLine(l => l.includes('"url":"/slow?ms=3000"'), 10_000)

      const signalledAt = Date.now()
      ferry.proc.child.kill('SIGTERM')
      // Both probes go out while the slow request is still at the upstream (it has ~3 s left).
      const [ready, late] = await Promise.all([
        net.call<HttpResult>(net.pod, { kind: 'http', host: '127.0.0.1', port: 15021, path: '/healthz/ready' }),
        net.call<HttpResult>(net.pod, { kind: 'http', host: '10.96.0.40', port: 80, path: '/late' }, APP_UID)
      ])
      t.equal(ready.status, 503, 'readiness turns 503 as soon as the drain starts', { found: ready })
      t.ok(late.status === undefined, `a new connection is not accepted during the drain (got ${JSON.stringify(late)})`)
      t.equal(requestsFor('/late'), 0, 'the late request never reached the upstream')

      const answer = await slow.exited
      const r = JSON.parse(answer.stdout) as HttpResult
      t.equal(r.status, 200, 'the in-flight request finished', { found: r, ferry: ferry.log() })
      t.equal((JSON.parse(r.body ?? '{}') as Seen).server, 'slow')

      const exit = await ferry.proc.exited
      const took = Date.now() - signalledAt
      t.same({ code: exit.code, signal: exit.signal }, { code: 0, signal: null }, 'Ferry exited 0 by itself', { ferry: ferry.log() })
      t.ok(took < drainMs, `it exited within the drain duration (${took} ms)`)
      t.notMatch(ferry.log(), /drain period over/, 'nothing was cut off')
    })

    t.test('a request that outlives the drain period does not keep the process alive', async (t) => {
      const drainMs = 1000
      const ferry = await net.startFerry(config, ['--drain-duration', `${drainMs}ms`])
      const slow = net.start(net.pod, 'very slow request', [process.execPath, client, JSON.stringify({ kind: 'http', host: '10.96.0.40', port: 80, path: '/slow?ms=8000', timeoutMs: 15_000 })], APP_UID)
      await upstream.waitForLine(l => l.includes('"url":"/slow?ms=8000"'), 10_000)

      const signalledAt = Date.now()
      ferry.proc.child.kill('SIGTERM')
      const exit = await ferry.proc.exited
      const took = Date.now() - signalledAt
      t.same({ code: exit.code, signal: exit.signal }, { code: 0, signal: null }, 'Ferry exited 0', { ferry: ferry.log() })
      t.ok(took >= drainMs - 100 && took < drainMs + 1500, `it exited at the end of the drain period (${took} ms)`)
      t.match(ferry.log(), /drain period over/)
      const r = JSON.parse((await slow.exited).stdout) as HttpResult
      t.ok(r.status !== 200 || r.error !== undefined, `the cut-off request did not get a complete 200 (got ${JSON.stringify(r)})`)
    })
  })
}
