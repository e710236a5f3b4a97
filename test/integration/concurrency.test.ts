// `ferry run --concurrency 2` as a real process: two workers behind the primary, circuit breakers
// and outlier ejection shared between them (docs/concurrency.md). Needs dist/ (npx tsc -p .) and
// the shared-memory addon; skipped with the reason when either is missing.

import t from 'tap'
import { spawn, type ChildProcess } from 'node:child_process'
import { existsSync, writeFileSync, readdirSync } from 'node:fs'
import { join } from 'node:path'
import http from 'node:http'
import type { AddressInfo, Socket } from 'node:net'
import { freePort, GATEWAY, serviceEntry, tempDir } from '../helpers/harness'
import { sharedMemoryUnavailableReason } from '../../src/upstream/shared-memory'

const ROOT = join(__dirname, '..', '..')
const BIN = join(ROOT, 'bin', 'ferry.js')
const skip = !existsSync(join(ROOT, 'dist', 'cli', 'main.js'))
  ? 'dist/ is not built (npx tsc -p .)'
  : sharedMemoryUnavailableReason()

interface Proc { child: ChildProcess, port: number, admin: number, log: () => string, exited: Promise<number | null> }

async function startFerry (t: { teardown: (fn: () => void) => void }, yaml: string, extra: string[] = []): Promise<Proc> {
  const port = await freePort()
  const admin = await freePort()
  const dir = tempDir(t, 'ferry-concurrency-')
  const file = join(dir, 'config.yaml')
  writeFileSync(file, yaml.replaceAll('${PORT}', String(port)))
  const child = spawn(process.execPath, [BIN, 'run', '--role', 'gateway', '--concurrency', '2', '--config', file,
    '--gateway-address', '127.0.0.1', '--admin', `127.0.0.1:${admin}`, '--sampling', '0', '--drain-duration', '2s', ...extra],
  { stdio: ['ignore', 'pipe', 'pipe'] })
  let out = ''
  child.stdout?.on('data', (d: Buffer) => { out += d.toString() })
  child.stderr?.on('data', (d: Buffer) => { out += d.toString() })
  const exited = new Promise<number | null>(resolve => child.on('exit', code => resolve(code)))
  t.teardown(() => { if (child.exitCode === null) child.kill('SIGKILL') })
  const deadline = Date.now() + 20_000
  while (!/ready: 2 workers/.test(out)) {
    if (child.exitCode !== null || Date.now() > deadline) throw new Error(`ferry did not start:\n${out}`)
    await new Promise(resolve => setTimeout(resolve, 50))
  }
  return { child, port, admin, log: () => out, exited }
}

/**
 * svc.example.com on the given upstream ports, routed from the gateway, with a DestinationRule
 * whose `trafficPolicy` is the YAML given (indented under it) when there is one.
 */
function svcConfig (ports: number[], trafficPolicy = ''): string {
  const rule = trafficPolicy === ''
    ? ''
    : `---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: dr}
spec:
  host: svc.example.com
  trafficPolicy:${trafficPolicy}
`
  return GATEWAY + serviceEntry('svc.example.com', 80, ports.map(port => ({ port }))) + `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: vs}
spec:
  hosts: [svc.example.com]
  gateways: [gw]
  http:
  - route: [{destination: {host: svc.example.com, port: {number: 80}}}]
` + rule
}

function get (port: number, path: string, host = 'svc.example.com'): Promise<{ status: number, headers: http.IncomingHttpHeaders, body: string }> {
  return new Promise((resolve, reject) => {
    // A new connection per request (agent: false), so the primary spreads them over both workers.
    const req = http.get({ host: '127.0.0.1', port, path, headers: { host }, agent: false }, res => {
      let body = ''
      res.on('data', (d: Buffer) => { body += d.toString() })
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }))
    })
    req.on('error', reject)
  })
}

t.test('two workers', { skip: skip ?? false }, async t => {
  t.test('maxConnections 1 / http1MaxPendingRequests 1 hold across both workers; overflow is 503 UO with x-envoy-overloaded', async t => {
    // A slow upstream that counts open connections and requests in flight at once.
    let open = 0
    let maxOpen = 0
    let inFlight = 0
    let maxInFlight = 0
    let served = 0
    const upstream = http.createServer((_req, res) => {
      inFlight++
      maxInFlight = Math.max(maxInFlight, inFlight)
      setTimeout(() => {
        inFlight--
        served++
        res.end('slow')
      }, 150)
    })
    upstream.on('connection', (s: Socket) => {
      open++
      maxOpen = Math.max(maxOpen, open)
      // Closed as soon as Ferry's side is: EOF ('end') arrives before Node gets round to 'close'.
      let counted = true
      const gone = (): void => { if (counted) { counted = false; open-- } }
      s.on('end', gone)
      s.on('close', gone)
    })
    await new Promise<void>(resolve => upstream.listen(0, '127.0.0.1', resolve))
    t.teardown(() => { upstream.closeAllConnections(); upstream.close() })
    const upstreamPort = (upstream.address() as AddressInfo).port
    const f = await startFerry(t, svcConfig([upstreamPort], `
    connectionPool:
      tcp: {maxConnections: 1}
      http: {http1MaxPendingRequests: 1}`))
    // Several rounds of 8 concurrent clients: each round both workers get requests.
    const replies: Array<{ status: number, headers: http.IncomingHttpHeaders }> = []
    for (let round = 0; round < 4; round++) {
      replies.push(...await Promise.all(Array.from({ length: 8 }, () => get(f.port, '/'))))
    }
    const ok = replies.filter(r => r.status === 200).length
    const overflow = replies.filter(r => r.status === 503)
    t.equal(ok + overflow.length, replies.length, 'every reply is 200 or 503')
    t.ok(ok >= 4, `some requests got through (${ok})`)
    t.ok(overflow.length > 0, `concurrent clients overflowed (${overflow.length})`)
    t.ok(overflow.every(r => r.headers['x-envoy-overloaded'] === 'true'), 'every overflow 503 carries x-envoy-overloaded')
    t.equal(maxOpen, 1, 'the upstream never saw more than one connection at once')
    t.equal(maxInFlight, 1, 'nor more than one request at once')
    t.equal(served, ok, 'every 200 was served by the upstream')

    // Both workers proxied (each worker's stats are summed by the primary's /stats).
    const stats = await get(f.admin, '/stats?filter=svc.example.com', '127.0.0.1')
    const stat = (name: string): number => Number(new RegExp(`\\.${name}: (\\d+)`).exec(stats.body)?.[1] ?? NaN)
    t.equal(stat('upstream_rq_pending_overflow'), overflow.length, '/stats sums upstream_rq_pending_overflow over workers')
    t.equal(stat('upstream_rq_200'), ok, '/stats sums upstream_rq_200 over workers')
    // One connection may still be open (idle keep-alive in either worker): 0 or 1 left, never a sum.
    t.ok([0, 1].includes(stat('circuit_breakers\\.default\\.remaining_cx')), 'remaining_cx is the shared value, not a sum')
    const prom = await get(f.admin, '/stats/prometheus', '127.0.0.1')
    t.match(prom.body, /envoy_server_concurrency 2/, 'prometheus reports 2 workers')
    const info = await get(f.admin, '/clusters', '127.0.0.1')
    t.match(info.body, /svc\.example\.com/, 'other admin paths are answered by a worker')

    f.child.kill('SIGTERM')
    t.equal(await f.exited, 0, 'SIGTERM: the primary exits 0')
    t.match(f.log(), /all workers stopped/)
    t.notOk(readdirSync('/dev/shm').some(n => n.startsWith(`ferry-${f.child.pid}-`)), 'the shared segment is removed')
  })

  t.test('an ejection made in one worker is honoured by the other', async t => {
    // Host A fails every request; host B answers. consecutive5xxErrors 2, maxEjectionPercent 100.
    let badHits = 0
    const bad = http.createServer((_req, res) => { badHits++; res.writeHead(503); res.end('bad') })
    const good = http.createServer((_req, res) => { res.end('good') })
    await new Promise<void>(resolve => bad.listen(0, '127.0.0.1', resolve))
    await new Promise<void>(resolve => good.listen(0, '127.0.0.1', resolve))
    t.teardown(() => { bad.closeAllConnections(); bad.close(); good.closeAllConnections(); good.close() })
    const f = await startFerry(t, svcConfig([(bad.address() as AddressInfo).port, (good.address() as AddressInfo).port], `
    loadBalancer: {simple: ROUND_ROBIN}
    outlierDetection: {consecutive5xxErrors: 2, interval: 60s, baseEjectionTime: 60s, maxEjectionPercent: 100}`))
    // Sequential requests on new connections alternate between the workers (round-robin
    // hand-off) until one of them has seen the second 503 from host A.
    let sawBad = 0
    for (let i = 0; i < 20 && badHits < 2; i++) if ((await get(f.port, '/')).status === 503) sawBad++
    t.equal(badHits, 2, 'host A answered two 503s (counted across workers)')
    t.equal(sawBad, 2)
    // From now on no worker sends to host A.
    const after = await Promise.all(Array.from({ length: 20 }, () => get(f.port, '/')))
    t.ok(after.every(r => r.status === 200 && r.body === 'good'), 'every later request, in both workers, avoided the ejected host')
    t.equal(badHits, 2, 'host A got nothing more')
    const stats = await get(f.admin, '/stats?filter=outlier_detection', '127.0.0.1')
    t.match(stats.body, /outlier_detection\.ejections_active: 1\n/, 'ejections_active is 1 cluster-wide (not summed)')
    t.match(stats.body, /outlier_detection\.ejections_enforced_total: 1\n/, 'one ejection in total')
    f.child.kill('SIGTERM')
    t.equal(await f.exited, 0)
  })

  t.test('a worker that dies is replaced and its slots are given back', async t => {
    const upstream = http.createServer((_req, res) => { res.end('ok') })
    await new Promise<void>(resolve => upstream.listen(0, '127.0.0.1', resolve))
    t.teardown(() => { upstream.closeAllConnections(); upstream.close() })
    const f = await startFerry(t, svcConfig([(upstream.address() as AddressInfo).port]))
    const pids = [...f.log().matchAll(/pids (\d+), (\d+)/g)][0]
    t.ok(pids !== undefined, 'the primary logs its workers')
    process.kill(Number(pids[1]), 'SIGKILL')
    const deadline = Date.now() + 10_000
    while (!/worker 0 .* died/.test(f.log()) && Date.now() < deadline) await new Promise(resolve => setTimeout(resolve, 50))
    t.match(f.log(), /worker 0 \(pid \d+\) died/)
    await new Promise(resolve => setTimeout(resolve, 1500))
    const replies = await Promise.all(Array.from({ length: 6 }, () => get(f.port, '/')))
    t.ok(replies.every(r => r.status === 200), 'both workers serve again')
    f.child.kill('SIGTERM')
    t.equal(await f.exited, 0)
  })
})
