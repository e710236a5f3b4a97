// Retries against real flaky, failing and refusing upstreams: the seed scenario, Istio's default
// policy, URX, max_retries overflow, host choice, what is never retried, and the keep-alive race.

import t from 'tap'
import http from 'node:http'
import net from 'node:net'
import { freePort, request, startUpstream } from '../helpers/harness'
import { httpbinConfig, startFerryWithLog, waitFor } from './resilience-helpers'

/** An upstream answering `codes[i]` to its i-th request (200 once the list runs out). */
async function scripted (codes: number[]) {
  return await startUpstream((_req, res, _body, i) => {
    const code = codes[i] ?? 200
    const body = `attempt ${i + 1}: ${code}`
    res.writeHead(code, { 'content-type': 'text/plain', 'content-length': Buffer.byteLength(body) })
    res.end(body)
  })
}

t.test('seed: attempts 3 (retryOn 5xx) vs an upstream failing twice with 503: 200 after 3 tries', async t => {
  const up = await scripted([503, 503])
  t.teardown(() => up.close())
  const f = await startFerryWithLog(httpbinConfig([up.port], '    retries: {attempts: 3, retryOn: 5xx}\n'))
  t.teardown(() => f.stop())
  const r = await request(f.port, '/status/503')
  t.equal(r.status, 200)
  t.equal(r.body, 'attempt 3: 200')
  t.equal(up.requests.length, 3)
  t.same(up.requests.map(x => x.headers['x-envoy-attempt-count']), ['1', '2', '3'])
  t.equal(await f.clusterStat('upstream_rq_retry'), 2)
  t.equal(await f.clusterStat('upstream_rq_retry_success'), 1)
  t.equal(await f.clusterStat('upstream_rq_retry_limit_exceeded'), 0)
  t.equal(await f.clusterStat('upstream_rq_503'), 2)
  t.equal(await f.clusterStat('upstream_rq_200'), 1)
  const [line] = await f.waitForLogs(1)
  t.equal(line.response_code, 200)
  t.equal(line.response_flags, '-')
})

t.test('a bare 503 in retryOn works like retriable-status-codes', async t => {
  const up = await scripted([503, 503])
  t.teardown(() => up.close())
  const f = await startFerryWithLog(httpbinConfig([up.port], '    retries: {attempts: 3, retryOn: "503"}\n'))
  t.teardown(() => f.stop())
  const r = await request(f.port, '/')
  t.equal(r.status, 200)
  t.equal(up.requests.length, 3)
})

t.test("Istio's default policy does not retry a 503 (removed in 1.24)", async t => {
  const up = await scripted([503])
  t.teardown(() => up.close())
  const f = await startFerryWithLog(httpbinConfig([up.port]))
  t.teardown(() => f.stop())
  const r = await request(f.port, '/')
  t.equal(r.status, 503)
  t.equal(r.body, 'attempt 1: 503')
  t.equal(up.requests.length, 1)
  t.equal(up.requests[0].headers['x-envoy-attempt-count'], '1')
  t.equal(await f.clusterStat('upstream_rq_retry'), 0)
})

t.test("Istio's default policy retries gRPC unavailable", async t => {
  const up = await startUpstream((_req, res, _body, i) => {
    res.writeHead(200, { 'content-type': 'application/grpc', 'grpc-status': i === 0 ? '14' : '0' })
    res.end()
  })
  t.teardown(() => up.close())
  const f = await startFerryWithLog(httpbinConfig([up.port]))
  t.teardown(() => f.stop())
  const r = await request(f.port, '/pkg.Svc/Method', { method: 'POST', headers: { 'content-type': 'application/grpc' }, body: '' })
  t.equal(r.status, 200)
  t.equal(r.headers['grpc-status'], '0')
  t.equal(up.requests.length, 2)
})

t.test('retries with other fields but no attempts are refused at load, as Istio\'s webhook does', async t => {
  await t.rejects(startFerryWithLog(httpbinConfig([1], '    retries: {retryOn: 5xx}\n')), /attempts/)
})

t.test('retries run out: the last 503 is forwarded with URX and retry_limit_exceeded', async t => {
  const up = await scripted([503, 503, 503, 503])
  t.teardown(() => up.close())
  const f = await startFerryWithLog(httpbinConfig([up.port], '    retries: {attempts: 2, retryOn: 5xx}\n'))
  t.teardown(() => f.stop())
  const r = await request(f.port, '/')
  t.equal(r.status, 503)
  t.equal(r.body, 'attempt 3: 503', "the upstream's own answer, not a local reply")
  t.equal(r.headers['x-envoy-overloaded'], undefined)
  t.equal(up.requests.length, 3)
  t.equal(await f.clusterStat('upstream_rq_retry'), 2)
  t.equal(await f.clusterStat('upstream_rq_retry_limit_exceeded'), 1)
  t.equal(await f.clusterStat('upstream_rq_retry_success'), 0, 'a forwarded retriable answer is no success')
  const [line] = await f.waitForLogs(1)
  t.equal(line.response_flags, 'URX')
})

t.test('attempts: 0 sends exactly one try', async t => {
  const up = await scripted([503])
  t.teardown(() => up.close())
  const f = await startFerryWithLog(httpbinConfig([up.port], '    retries: {attempts: 0}\n'))
  t.teardown(() => f.stop())
  const r = await request(f.port, '/')
  t.equal(r.status, 503)
  t.equal(up.requests.length, 1)
  t.equal(await f.clusterStat('upstream_rq_retry_limit_exceeded'), 0)
})

t.test('http.maxRetries: a retry over the limit is not made (retry_overflow, UO)', async t => {
  // Each request's first try fails at once; its retry is held 300 ms, so while the first
  // request's retry is in flight the second request's retry finds max_retries (1) taken.
  let first = 0
  const up = await startUpstream((req, res) => {
    if (req.headers['x-envoy-attempt-count'] === '1') {
      first++
      res.writeHead(503, { 'content-length': '4' }).end('fail')
      return
    }
    const timer = setTimeout(() => res.writeHead(200, { 'content-length': '2' }).end('ok'), 300)
    res.on('close', () => clearTimeout(timer))
  })
  t.teardown(() => up.close())
  const dr = '    connectionPool: {http: {maxRetries: 1}}\n'
  const f = await startFerryWithLog(httpbinConfig([up.port], '    retries: {attempts: 3, retryOn: 5xx}\n', dr))
  t.teardown(() => f.stop())
  const a = request(f.port, '/a')
  await waitFor(async () => (await f.clusterStat('upstream_rq_retry')) === 1, 'the first retry')
  t.equal(await f.clusterStat('circuit_breakers.default.rq_retry_open'), 1)
  t.equal(await f.clusterStat('circuit_breakers.default.remaining_retries'), 0)
  const b = await request(f.port, '/b')
  t.equal(b.status, 503)
  t.equal(b.body, 'fail', 'the failed answer is forwarded, not retried')
  t.equal((await a).status, 200)
  t.equal(first, 2)
  t.equal(await f.clusterStat('upstream_rq_retry_overflow'), 1)
  t.equal(await f.clusterStat('upstream_rq_retry'), 1)
  t.equal(await f.clusterStat('circuit_breakers.default.rq_retry_open'), 0, 'released once the retry answered')
  t.equal(await f.clusterStat('circuit_breakers.default.remaining_retries'), 1)
  const lines = await f.waitForLogs(2)
  const bLine = lines.find(l => l.path === '/b')
  t.equal(bLine?.response_flags, 'UO')
})

t.test('a retry prefers a host not tried yet', async t => {
  const bad = await startUpstream((_req, res) => { res.writeHead(503, { 'content-length': '3' }).end('bad') })
  const good = await startUpstream((_req, res) => { res.writeHead(200, { 'content-length': '4' }).end('good') })
  t.teardown(() => bad.close())
  t.teardown(() => good.close())
  const f = await startFerryWithLog(httpbinConfig([bad.port, good.port], '    retries: {attempts: 1, retryOn: 5xx}\n'))
  t.teardown(() => f.stop())
  for (let i = 0; i < 10; i++) {
    const r = await request(f.port, `/${i}`)
    t.equal(r.status, 200, `request ${i}: with one retry, the other host always answers`)
  }
  t.ok(bad.requests.length > 0, 'the bad host was picked first sometimes')
  t.equal(good.requests.length, 10)
  for (const req of bad.requests) t.equal(req.headers['x-envoy-attempt-count'], '1', 'never a retry to the host that failed')
})

t.test('connect failure (refused port): default policy retries twice, then 503 UF', async t => {
  const port = await freePort()
  const f = await startFerryWithLog(httpbinConfig([port]))
  t.teardown(() => f.stop())
  const r = await request(f.port, '/')
  t.equal(r.status, 503)
  t.equal(r.body, 'upstream connect error or disconnect/reset before headers. reset reason: connection failure')
  t.equal(await f.clusterStat('upstream_rq_retry'), 2)
  t.equal(await f.clusterStat('upstream_rq_retry_limit_exceeded'), 1)
  t.ok(((await f.clusterStat('upstream_cx_connect_fail')) ?? 0) >= 3, 'three connect failures')
  const [line] = await f.waitForLogs(1)
  t.match(String(line.response_flags), /UF/)
  t.match(String(line.response_flags), /URX/)
})

t.test('a connect failure on one host is retried on the other', async t => {
  const dead = await freePort()
  const good = await startUpstream()
  t.teardown(() => good.close())
  const f = await startFerryWithLog(httpbinConfig([dead, good.port]))
  t.teardown(() => f.stop())
  for (let i = 0; i < 6; i++) t.equal((await request(f.port, '/')).status, 200)
})

t.test('nothing is retried once response bytes went to the client', async t => {
  const up = await startUpstream((_req, res) => {
    res.writeHead(200, { 'content-length': '100' })
    res.write('partial')
    setTimeout(() => res.socket?.destroy(), 20)
  })
  t.teardown(() => up.close())
  const f = await startFerryWithLog(httpbinConfig([up.port], '    retries: {attempts: 3, retryOn: "5xx,reset"}\n'))
  t.teardown(() => f.stop())
  const outcome = await new Promise<{ status: number, body: string, aborted: boolean }>(resolve => {
    const req = http.get({ host: '127.0.0.1', port: f.port, path: '/', headers: { host: 'example.com' }, agent: false }, res => {
      let body = ''
      res.on('data', (c: Buffer) => { body += c.toString() })
      res.on('error', () => resolve({ status: res.statusCode ?? 0, body, aborted: true }))
      res.on('aborted', () => resolve({ status: res.statusCode ?? 0, body, aborted: true }))
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body, aborted: false }))
    })
    req.on('error', () => resolve({ status: 0, body: '', aborted: true }))
  })
  t.equal(outcome.status, 200)
  t.equal(outcome.body, 'partial')
  t.ok(outcome.aborted, 'the client sees the cut, not a complete response')
  t.equal(up.requests.length, 1)
  t.equal(await f.clusterStat('upstream_rq_retry'), 0)
  const [line] = await f.waitForLogs(1)
  t.equal(line.response_flags, 'UC')
  t.equal(line.response_code_details, 'upstream_reset_after_response_started')
})

t.test('a small body is replayed on retry; a body over 64 KiB is streamed and not retried', async t => {
  const up = await scripted([503, 200, 503, 503])
  t.teardown(() => up.close())
  const f = await startFerryWithLog(httpbinConfig([up.port], '    retries: {attempts: 2, retryOn: 5xx}\n'))
  t.teardown(() => f.stop())
  const small = Buffer.alloc(1024, 'a')
  const r1 = await request(f.port, '/post', { method: 'POST', body: small, headers: { 'content-type': 'application/octet-stream' } })
  t.equal(r1.status, 200)
  t.equal(up.requests.length, 2)
  t.same(up.requests[1].body, small, 'the retry carried the same body')

  const large = Buffer.alloc(100 * 1024, 'b')
  const r2 = await request(f.port, '/post', { method: 'POST', body: large, headers: { 'content-type': 'application/octet-stream' } })
  t.equal(r2.status, 503)
  t.equal(r2.body, 'attempt 3: 503')
  t.equal(up.requests.length, 3, 'one try only')
  t.equal(up.requests[2].body.length, large.length, 'the streamed body arrived whole')

  const chunked = await new Promise<number>((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port: f.port, path: '/post', method: 'POST', headers: { host: 'example.com', 'transfer-encoding': 'chunked' }, agent: false }, res => {
      res.resume()
      res.on('end', () => resolve(res.statusCode ?? 0))
    })
    req.on('error', reject)
    req.end('chunked body of unknown length')
  })
  t.equal(chunked, 503, 'a chunked body is never buffered, so never retried')
  t.equal(up.requests.length, 4)
})

t.test('an upstream that silently closes idle connections gives no 503 UC to sequential requests', async t => {
  // The upstream drops every connection 30 ms after a response without saying so (no
  // `Connection: close`, no Keep-Alive hint). Requests 50 ms apart land on a pooled socket the
  // upstream has just closed, or is closing; the default policy alone must hide that.
  const sockets = new Set<net.Socket>()
  const up = await startUpstream((_req, res) => {
    res.writeHead(200, { 'content-length': '2' })
    res.end('ok')
    const sock = res.socket
    if (sock !== null) setTimeout(() => sock.destroy(), 30)
  })
  up.server.keepAliveTimeout = 60_000
  up.server.on('connection', s => sockets.add(s))
  t.teardown(() => up.close())
  const f = await startFerryWithLog(httpbinConfig([up.port]))
  t.teardown(() => f.stop())
  const statuses: number[] = []
  for (let i = 0; i < 15; i++) {
    statuses.push((await request(f.port, `/${i}`)).status)
    await new Promise(resolve => setTimeout(resolve, i % 2 === 0 ? 30 : 50))
  }
  t.same(statuses, Array(15).fill(200))
  const lines = await f.waitForLogs(15)
  t.same(lines.filter(l => l.response_flags !== '-'), [], 'no UC, no URX')
})

t.test('keep-alive race, reproduced exactly: a reset on a reused socket is retried once even with retries off', async t => {
  // The upstream answers the first request on a connection, then resets the connection as soon
  // as the next request arrives on it, before any response byte.
  const up = await startUpstream(undefined)
  up.server.removeAllListeners('request')
  const perSocket = new WeakMap<net.Socket, number>()
  let served = 0
  up.server.on('request', (req: http.IncomingMessage, res: http.ServerResponse) => {
    const sock = req.socket
    const n = (perSocket.get(sock) ?? 0) + 1
    perSocket.set(sock, n)
    if (n > 1) {
      sock.resetAndDestroy()
      return
    }
    served++
    req.resume()
    req.on('end', () => res.writeHead(200, { 'content-length': '2' }).end('ok'))
  })
  t.teardown(() => up.close())
  const f = await startFerryWithLog(httpbinConfig([up.port], '    retries: {attempts: 0}\n'))
  t.teardown(() => f.stop())
  for (let i = 0; i < 4; i++) {
    const r = await request(f.port, `/${i}`)
    t.equal(r.status, 200, `request ${i}`)
  }
  t.equal(served, 4)
  t.ok(((await f.clusterStat('upstream_rq_rx_reset')) ?? 0) >= 3, 'the resets happened')
})
