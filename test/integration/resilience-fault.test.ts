// VirtualService fault injection: delays (DI) and aborts (FI) with their stats, against a real upstream.

import t from 'tap'
import http from 'node:http'
import { request, stat, startUpstream } from '../helpers/harness'
import { httpbinConfig, startFerryWithLog, waitFor, type LoggedFerry } from './resilience-helpers'

const faultStat = (f: LoggedFerry, name: string): Promise<number | undefined> =>
  stat(f, `http.outbound_0.0.0.0_${f.port}.fault.${name}`)

t.test('seed: a 100% abort answers at once and never reaches the upstream', async t => {
  const up = await startUpstream()
  t.teardown(() => up.close())
  const fault = '    fault: {abort: {httpStatus: 500, percentage: {value: 100}}}\n    retries: {attempts: 3, retryOn: 5xx}\n'
  const f = await startFerryWithLog(httpbinConfig([up.port], fault))
  t.teardown(() => f.stop())
  const r = await request(f.port, '/')
  t.equal(r.status, 500)
  t.equal(r.body, 'fault filter abort')
  t.equal(r.headers['content-type'], 'text/plain')
  t.equal(up.requests.length, 0, 'never reaches an upstream')
  t.equal(await faultStat(f, 'aborts_injected'), 1)
  t.equal(await faultStat(f, 'delays_injected'), 0)
  t.equal(await f.clusterStat('upstream_rq_retry'), 0, 'never retried')
  t.equal(await f.clusterStat('upstream_rq_total'), 0)
  const [line] = await f.waitForLogs(1)
  t.equal(line.response_code, 500)
  t.equal(line.response_flags, 'FI')
  t.equal(line.response_code_details, 'fault_filter_abort')
})

t.test('a gRPC abort is HTTP 200 with grpc-status', async t => {
  const up = await startUpstream()
  t.teardown(() => up.close())
  const f = await startFerryWithLog(httpbinConfig([up.port], '    fault: {abort: {grpcStatus: UNAVAILABLE, percentage: {value: 100}}}\n'))
  t.teardown(() => f.stop())
  const r = await request(f.port, '/pkg.Svc/Get', { method: 'POST', headers: { 'content-type': 'application/grpc' }, body: '' })
  t.equal(r.status, 200)
  t.equal(r.headers['grpc-status'], '14')
  t.equal(r.headers['content-type'], 'application/grpc')
  t.equal(up.requests.length, 0)
  t.equal(await faultStat(f, 'aborts_injected'), 1)
  const [line] = await f.waitForLogs(1)
  t.equal(line.response_flags, 'FI')
})

t.test('seed: a fixed delay is flagged DI, counted, and happens before the upstream sees the request', async t => {
  let seenAt = 0
  const up = await startUpstream((_req, res) => { seenAt = performance.now(); res.end('ok') })
  t.teardown(() => up.close())
  const f = await startFerryWithLog(httpbinConfig([up.port], '    fault: {delay: {fixedDelay: 400ms, percentage: {value: 100}}}\n'))
  t.teardown(() => f.stop())
  const start = performance.now()
  const pending = request(f.port, '/')
  await waitFor(async () => (await faultStat(f, 'active_faults')) === 1, 'the fault to be active')
  t.equal(up.requests.length, 0, 'not forwarded during the delay')
  const r = await pending
  t.equal(r.status, 200)
  t.equal(r.body, 'ok')
  t.ok(seenAt - start >= 380, `the upstream saw it after ${Math.round(seenAt - start)} ms`)
  t.equal(await faultStat(f, 'delays_injected'), 1)
  t.equal(await faultStat(f, 'active_faults'), 0)
  const [line] = await f.waitForLogs(1)
  t.equal(line.response_flags, 'DI')
})

t.test('the delay happens before the route timeout starts', async t => {
  const up = await startUpstream((_req, res) => { setTimeout(() => res.end('ok'), 100) })
  t.teardown(() => up.close())
  const f = await startFerryWithLog(httpbinConfig([up.port], '    timeout: 300ms\n    fault: {delay: {fixedDelay: 500ms, percentage: {value: 100}}}\n'))
  t.teardown(() => f.stop())
  const r = await request(f.port, '/')
  t.equal(r.status, 200, 'a 500 ms delay does not eat a 300 ms timeout')
  t.equal(await f.clusterStat('upstream_rq_timeout'), 0)
})

t.test('the deprecated integer percent works; no percentage means never', async t => {
  const up = await startUpstream()
  t.teardown(() => up.close())
  const yaml = httpbinConfig([up.port], '    fault: {delay: {fixedDelay: 50ms, percent: 100}, abort: {httpStatus: 503}}\n')
  const f = await startFerryWithLog(yaml)
  t.teardown(() => f.stop())
  const r = await request(f.port, '/')
  t.equal(r.status, 200, 'the abort has no percentage: 0%')
  t.equal(await faultStat(f, 'delays_injected'), 1)
  t.equal(await faultStat(f, 'aborts_injected'), 0)
})

t.test('percentages draw from the injected random source', async t => {
  const up = await startUpstream()
  t.teardown(() => up.close())
  // Every draw is 0.3: a 30% abort does not fire (0.3 x 100 is not < 30), a 31% one does.
  const opts = { random: () => 0.3 }
  const miss = await startFerryWithLog(httpbinConfig([up.port], '    fault: {abort: {httpStatus: 503, percentage: {value: 30}}}\n'), opts)
  t.teardown(() => miss.stop())
  t.equal((await request(miss.port, '/')).status, 200)
  const hit = await startFerryWithLog(httpbinConfig([up.port], '    fault: {abort: {httpStatus: 503, percentage: {value: 31}}}\n'), opts)
  t.teardown(() => hit.stop())
  const r = await request(hit.port, '/')
  t.equal(r.status, 503)
  t.equal(r.body, 'fault filter abort')
  t.equal(r.headers['x-envoy-overloaded'], undefined)
})

t.test('delay then abort: both flags, both counters', async t => {
  const up = await startUpstream()
  t.teardown(() => up.close())
  const fault = '    fault: {delay: {fixedDelay: 50ms, percentage: {value: 100}}, abort: {httpStatus: 418, percentage: {value: 100}}}\n'
  const f = await startFerryWithLog(httpbinConfig([up.port], fault))
  t.teardown(() => f.stop())
  const r = await request(f.port, '/')
  t.equal(r.status, 418)
  t.equal(r.body, 'fault filter abort')
  t.equal(up.requests.length, 0)
  const [line] = await f.waitForLogs(1)
  t.equal(line.response_flags, 'DI,FI')
  t.equal(await faultStat(f, 'delays_injected'), 1)
  t.equal(await faultStat(f, 'aborts_injected'), 1)
})

t.test('a client that leaves during the delay: nothing is forwarded, active_faults returns to 0', async t => {
  const up = await startUpstream()
  t.teardown(() => up.close())
  const f = await startFerryWithLog(httpbinConfig([up.port], '    fault: {delay: {fixedDelay: 5s, percentage: {value: 100}}}\n'))
  t.teardown(() => f.stop())
  const req = http.get({ host: '127.0.0.1', port: f.port, path: '/', headers: { host: 'example.com' }, agent: false })
  req.on('error', () => {})
  await waitFor(async () => (await faultStat(f, 'active_faults')) === 1, 'the delay to start')
  req.destroy()
  await waitFor(async () => (await faultStat(f, 'active_faults')) === 0, 'the fault to end')
  const [line] = await f.waitForLogs(1)
  t.match(String(line.response_flags), /DI/)
  t.match(String(line.response_flags), /DC/)
  t.equal(up.requests.length, 0)
})
