// DestinationRule connectionPool circuit breakers, connect timeouts and idle connections,
// against real upstreams.

import t, { type Test } from 'tap'
import http from 'node:http'
import net from 'node:net'
import { spawn, type ChildProcess } from 'node:child_process'
import { admin, request, startUpstream, type Reply } from '../helpers/harness'
import { httpbinConfig, startFerryWithLog, waitFor, CLUSTER } from './resilience-helpers'

const OVERFLOW_BODY = 'upstream connect error or disconnect/reset before headers. reset reason: overflow'

/** An upstream that answers after `ms`, like httpbin's /get under load. */
async function slightlySlow (ms: number) {
  return await startUpstream((_req, res) => {
    const timer = setTimeout(() => res.writeHead(200, { 'content-type': 'application/json', 'content-length': '2' }).end('{}'), ms)
    res.on('close', () => clearTimeout(timer))
  })
}

/** `clients` loops each sending `perClient` requests back to back, like `fortio load -c 3 -qps 0 -n 60`. */
async function load (port: number, clients: number, perClient: number): Promise<Reply[]> {
  const out: Reply[] = []
  await Promise.all(Array.from({ length: clients }, async () => {
    for (let i = 0; i < perClient; i++) out.push(await request(port, '/get'))
  }))
  return out
}

t.test('seed: maxConnections 1, http1MaxPendingRequests 1, maxRequestsPerConnection 1, 3 clients x 20', async t => {
  const up = await slightlySlow(20)
  t.teardown(() => up.close())
  const dr = '    connectionPool:\n      tcp: {maxConnections: 1}\n      http: {http1MaxPendingRequests: 1, maxRequestsPerConnection: 1}\n'
  const f = await startFerryWithLog(httpbinConfig([up.port], '', dr))
  t.teardown(() => f.stop())

  const replies = await load(f.port, 3, 20)
  t.equal(replies.length, 60)
  const ok = replies.filter(r => r.status === 200)
  const overflow = replies.filter(r => r.status === 503)
  t.ok(ok.length > 0, `${ok.length} x 200`)
  t.ok(overflow.length > 0, `${overflow.length} x 503`)
  t.equal(ok.length + overflow.length, 60, 'nothing but 200 and 503')
  for (const r of overflow) {
    t.equal(r.headers['x-envoy-overloaded'], 'true')
    t.equal(r.body, OVERFLOW_BODY)
  }
  t.equal(await f.clusterStat('upstream_rq_pending_overflow'), overflow.length, 'the /stats line Istio\'s task reads')
  t.equal(await f.clusterStat('upstream_rq_200'), ok.length)
  t.equal(up.requests.length, ok.length, 'overflowed requests never reached the upstream')
  t.ok(((await f.clusterStat('upstream_cx_overflow')) ?? 0) > 0, 'requests waited as pending')
  t.ok(((await f.clusterStat('upstream_rq_pending_total')) ?? 0) > 0)
  t.equal(await f.clusterStat('upstream_rq_pending_active'), 0)
  t.ok(((await f.clusterStat('upstream_cx_total')) ?? 0) >= ok.length, 'one request per connection')

  const lines = await f.waitForLogs(60)
  const uo = lines.filter(l => l.response_flags === 'UO')
  t.equal(uo.length, overflow.length, 'every 503 is flagged UO')
  for (const l of uo) t.equal(l.response_code_details, 'upstream_reset_before_response_started{overflow}')
  const stats = (await admin(f, '/stats')).body
  t.match(stats, new RegExp(`cluster\\.outbound\\|8000\\|\\|httpbin\\.default\\.svc\\.cluster\\.local\\.upstream_rq_pending_overflow: ${overflow.length}\\n`))
})

t.test('circuit_breakers.default gauges follow the limits', async t => {
  let release: (() => void) | null = null
  const held: http.ServerResponse[] = []
  const up = await startUpstream((_req, res) => {
    held.push(res)
    release?.()
  })
  t.teardown(() => up.close())
  const dr = '    connectionPool:\n      tcp: {maxConnections: 1}\n      http: {http1MaxPendingRequests: 1, http2MaxRequests: 5, maxRetries: 3}\n'
  const f = await startFerryWithLog(httpbinConfig([up.port], '', dr))
  t.teardown(() => f.stop())
  const g = (name: string): Promise<number | undefined> => f.clusterStat(`circuit_breakers.default.${name}`)

  t.equal(await g('cx_open'), 0)
  t.equal(await g('remaining_cx'), 1)
  t.equal(await g('remaining_pending'), 1)
  t.equal(await g('remaining_rq'), 5)
  t.equal(await g('remaining_retries'), 3)

  const first = request(f.port, '/1')
  await waitFor(() => held.length === 1, 'the first request upstream')
  t.equal(await g('cx_open'), 1, 'the one connection is taken')
  t.equal(await g('remaining_cx'), 0)
  t.equal(await g('rq_open'), 0)
  t.equal(await g('remaining_rq'), 4)

  const second = request(f.port, '/2')
  await waitFor(async () => (await f.clusterStat('upstream_rq_pending_active')) === 1, 'the second request to wait')
  t.equal(await g('rq_pending_open'), 1)
  t.equal(await g('remaining_pending'), 0)

  const third = await request(f.port, '/3')
  t.equal(third.status, 503)
  t.equal(third.headers['x-envoy-overloaded'], 'true')
  t.equal(third.body, OVERFLOW_BODY)

  held[0].end('one')
  t.equal((await first).status, 200)
  await waitFor(() => held.length === 2, 'the pending request to get the connection')
  held[1].end('two')
  t.equal((await second).status, 200)
  await waitFor(async () => (await g('remaining_pending')) === 1 && (await g('remaining_rq')) === 5, 'gauges to settle')
  t.equal(await g('rq_pending_open'), 0)
  t.equal(await f.clusterStat('upstream_rq_pending_overflow'), 1)
})

t.test('http2MaxRequests: requests over the limit get 503 UO at once', async t => {
  const held: http.ServerResponse[] = []
  const up = await startUpstream((_req, res) => { held.push(res) })
  t.teardown(() => up.close())
  const f = await startFerryWithLog(httpbinConfig([up.port], '', '    connectionPool: {http: {http2MaxRequests: 2}}\n'))
  t.teardown(() => f.stop())
  const a = request(f.port, '/a')
  const b = request(f.port, '/b')
  await waitFor(() => held.length === 2, 'two requests in flight')
  const c = await request(f.port, '/c')
  t.equal(c.status, 503)
  t.equal(c.headers['x-envoy-overloaded'], 'true')
  t.equal(c.body, OVERFLOW_BODY)
  t.equal(await f.clusterStat('circuit_breakers.default.rq_open'), 1)
  t.equal(await f.clusterStat('upstream_rq_pending_overflow'), 1)
  for (const r of held) r.end('ok')
  t.equal((await a).status, 200)
  t.equal((await b).status, 200)
  const lines = await f.waitForLogs(3)
  t.equal(lines.find(l => l.path === '/c')?.response_flags, 'UO')
})

t.test('the limits are cluster-wide: two hosts share one pending queue limit and one connection limit', async t => {
  const held: http.ServerResponse[] = []
  const one = await startUpstream((_req, res) => { held.push(res) })
  const two = await startUpstream((_req, res) => { held.push(res) })
  t.teardown(() => one.close())
  t.teardown(() => two.close())
  const dr = '    loadBalancer: {simple: ROUND_ROBIN}\n    connectionPool:\n      tcp: {maxConnections: 1}\n      http: {http1MaxPendingRequests: 1}\n'
  const f = await startFerryWithLog(httpbinConfig([one.port, two.port], '', dr))
  t.teardown(() => f.stop())
  // Round robin sends /a and /b to different hosts. As in Envoy, a host pool with no connection
  // opens one even over max_connections (else it could wait on another host's idle socket).
  const a = request(f.port, '/a')
  const b = request(f.port, '/b')
  await waitFor(() => held.length === 2, 'one request on each host')
  t.equal(one.requests.length, 1)
  t.equal(two.requests.length, 1)
  t.equal(await f.clusterStat('circuit_breakers.default.cx_open'), 1)
  const c = request(f.port, '/c')
  await waitFor(async () => (await f.clusterStat('upstream_rq_pending_active')) === 1, 'the third to wait')
  const d = await request(f.port, '/d')
  t.equal(d.status, 503, 'the pending limit counts both hosts')
  t.equal(d.headers['x-envoy-overloaded'], 'true')
  for (const r of held) r.end('ok')
  t.equal((await a).status, 200)
  t.equal((await b).status, 200)
  await waitFor(() => held.length === 3, 'the pending request to run')
  held[2].end('ok')
  t.equal((await c).status, 200)
  t.equal(await f.clusterStat('upstream_rq_pending_overflow'), 1)
  t.ok(((await f.clusterStat('upstream_cx_overflow')) ?? 0) >= 2)
})

t.test('maxRequestsPerConnection 1: a new connection for every request', async t => {
  const remotePorts = new Set<number>()
  const up = await startUpstream((req, res) => { remotePorts.add(req.socket.remotePort ?? 0); res.end('ok') })
  t.teardown(() => up.close())
  const f = await startFerryWithLog(httpbinConfig([up.port], '', '    connectionPool: {http: {maxRequestsPerConnection: 1}}\n'))
  t.teardown(() => f.stop())
  for (let i = 0; i < 4; i++) t.equal((await request(f.port, '/')).status, 200)
  t.equal(remotePorts.size, 4)
})

t.test('without maxRequestsPerConnection, sequential requests reuse one connection', async t => {
  const remotePorts = new Set<number>()
  const up = await startUpstream((req, res) => { remotePorts.add(req.socket.remotePort ?? 0); res.end('ok') })
  t.teardown(() => up.close())
  const f = await startFerryWithLog(httpbinConfig([up.port]))
  t.teardown(() => f.stop())
  for (let i = 0; i < 4; i++) t.equal((await request(f.port, '/')).status, 200)
  t.equal(remotePorts.size, 1)
})

t.test('connect refused: 503 UF with the connection failure body', async t => {
  const dead = net.createServer()
  await new Promise<void>(resolve => dead.listen(0, '127.0.0.1', resolve))
  const port = (dead.address() as net.AddressInfo).port
  await new Promise<void>(resolve => dead.close(() => resolve()))
  const f = await startFerryWithLog(httpbinConfig([port], '    retries: {attempts: 0}\n'))
  t.teardown(() => f.stop())
  const r = await request(f.port, '/')
  t.equal(r.status, 503)
  t.equal(r.body, 'upstream connect error or disconnect/reset before headers. reset reason: connection failure')
  t.equal(await f.clusterStat('upstream_cx_connect_fail'), 1)
  const [line] = await f.waitForLogs(1)
  t.equal(line.response_flags, 'UF')
  t.equal(line.upstream_cluster, CLUSTER)
})

/**
 * A local port whose connects hang: a listener (in a python3 child, since Node always accepts)
 * with backlog 0 that never accepts, its accept queue filled, so Linux drops further SYNs.
 * Null when python3 is not there.
 */
async function blackhole (t: Test): Promise<number | null> {
  const script = 'import socket,sys,time\ns=socket.socket()\ns.bind(("127.0.0.1",0))\ns.listen(0)\n' +
    'print(s.getsockname()[1],flush=True)\nsys.stdin.read()\n'
  let child: ChildProcess
  try {
    child = spawn('python3', ['-c', script], { stdio: ['pipe', 'pipe', 'ignore'] })
  } catch {
    return null
  }
  t.teardown(() => { child.kill() })
  const port = await new Promise<number | null>(resolve => {
    child.once('error', () => resolve(null))
    child.stdout?.once('data', (d: Buffer) => resolve(Number(d.toString().trim())))
  })
  if (port === null) return null
  // Fill the accept queue; each filler completes its handshake and then sits there.
  const fillers: net.Socket[] = []
  for (let i = 0; i < 2; i++) {
    const s = net.connect(port, '127.0.0.1')
    s.on('error', () => {})
    fillers.push(s)
  }
  t.teardown(() => { for (const s of fillers) s.destroy() })
  await new Promise(resolve => setTimeout(resolve, 50))
  return port
}

t.test('connectTimeout: a connect that never completes is 503 UF after the timeout', async t => {
  const port = await blackhole(t)
  if (port === null) {
    t.skip('python3 is needed for a listener that never accepts')
    return
  }
  const dr = '    connectionPool: {tcp: {connectTimeout: 300ms}}\n'
  const f = await startFerryWithLog(httpbinConfig([port], '    retries: {attempts: 0}\n', dr))
  t.teardown(() => f.stop())
  const start = performance.now()
  const r = await request(f.port, '/')
  const elapsed = performance.now() - start
  t.equal(r.status, 503)
  t.equal(r.body, 'upstream connect error or disconnect/reset before headers. reset reason: connection failure')
  t.ok(elapsed >= 250 && elapsed < 3000, `after ${Math.round(elapsed)} ms`)
  t.equal(await f.clusterStat('upstream_cx_connect_timeout'), 1)
  t.equal(await f.clusterStat('upstream_cx_connect_fail'), 1)
  const [line] = await f.waitForLogs(1)
  t.equal(line.response_flags, 'UF')
})

t.test('issue: idleTimeout 0s (disabled; tcp.idleTimeout is the only place the webhook allows it) used to make every request fail', async t => {
  const up = await startUpstream()
  t.teardown(() => up.close())
  const f = await startFerryWithLog(httpbinConfig([up.port], '', '    connectionPool: {tcp: {idleTimeout: 0s}}\n'))
  t.teardown(() => f.stop())
  t.equal((await request(f.port, '/')).status, 200)
  t.equal((await request(f.port, '/')).status, 200)
})

t.test('idle upstream connections close before the upstream\'s Keep-Alive hint runs out', async t => {
  const up = await startUpstream((_req, res) => {
    res.writeHead(200, { 'content-length': '2', 'keep-alive': 'timeout=2' })
    res.end('ok')
  })
  up.server.keepAliveTimeout = 2000
  t.teardown(() => up.close())
  const f = await startFerryWithLog(httpbinConfig([up.port]))
  t.teardown(() => f.stop())
  t.equal((await request(f.port, '/')).status, 200)
  t.equal(await f.clusterStat('upstream_cx_active'), 1)
  const start = performance.now()
  await waitFor(async () => (await f.clusterStat('upstream_cx_active')) === 0, 'the idle connection to close', 3000)
  const elapsed = performance.now() - start
  t.ok(elapsed < 1900, `Ferry closed it first, after ${Math.round(elapsed)} ms`)
  t.equal(await f.clusterStat('upstream_cx_destroy_local'), 1)
})
