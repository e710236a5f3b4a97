// Route timeouts (VirtualService `timeout`) and per-try timeouts against real slow upstreams.

import t from 'tap'
import type { ServerResponse } from 'node:http'
import { request, startUpstream } from '../helpers/harness'
import { httpbinConfig, startFerryWithLog, CLUSTER } from './resilience-helpers'

/** An upstream that answers after `ms` (or when the connection goes away, never). */
async function slowUpstream (ms: number) {
  const timers = new Set<NodeJS.Timeout>()
  const up = await startUpstream((_req, res: ServerResponse) => {
    const timer = setTimeout(() => { timers.delete(timer); res.end('slow') }, ms)
    timers.add(timer)
    res.on('close', () => { clearTimeout(timer); timers.delete(timer) })
  })
  return up
}

t.test('seed: timeout 2s in front of a 10 s upstream answers 504 after about 2 s', async t => {
  const up = await slowUpstream(10_000)
  t.teardown(() => up.close())
  const f = await startFerryWithLog(httpbinConfig([up.port], '    timeout: 2s\n'))
  t.teardown(() => f.stop())

  const start = performance.now()
  const r = await request(f.port, '/delay/10')
  const elapsed = performance.now() - start
  t.equal(r.status, 504)
  t.equal(r.body, 'upstream request timeout')
  t.equal(r.headers['content-type'], 'text/plain')
  t.equal(r.headers.server, 'istio-envoy')
  t.ok(elapsed >= 1900 && elapsed < 5000, `answered after ${Math.round(elapsed)} ms`)
  t.equal(up.requests.length, 1, 'the default policy does not retry a timeout')
  t.equal(await f.clusterStat('upstream_rq_timeout'), 1)
  const [line] = await f.waitForLogs(1)
  t.equal(line.response_code, 504)
  t.equal(line.response_flags, 'UT')
  t.equal(line.response_code_details, 'upstream_response_timeout')
  t.equal(line.upstream_cluster, CLUSTER)
})

t.test('a response that arrives in time is not touched by the timeout', async t => {
  const up = await slowUpstream(50)
  t.teardown(() => up.close())
  const f = await startFerryWithLog(httpbinConfig([up.port], '    timeout: 2s\n'))
  t.teardown(() => f.stop())
  const r = await request(f.port, '/delay/0')
  t.equal(r.status, 200)
  t.equal(r.body, 'slow')
  t.equal(await f.clusterStat('upstream_rq_timeout'), 0)
})

t.test('no timeout by default: a slow upstream still answers 200 (Istio turns Envoy\'s 15 s off)', async t => {
  const up = await slowUpstream(700)
  t.teardown(() => up.close())
  const f = await startFerryWithLog(httpbinConfig([up.port]))
  t.teardown(() => f.stop())
  const r = await request(f.port, '/')
  t.equal(r.status, 200)
  t.equal(r.body, 'slow')
})

t.test('seed (scaled): attempts 2, perTryTimeout, retryOn 5xx vs a slow upstream: three tries, then 504', async t => {
  const up = await slowUpstream(3000)
  t.teardown(() => up.close())
  const f = await startFerryWithLog(httpbinConfig([up.port], '    retries: {attempts: 2, perTryTimeout: 200ms, retryOn: 5xx}\n'))
  t.teardown(() => f.stop())
  const start = performance.now()
  const r = await request(f.port, '/delay/3')
  const elapsed = performance.now() - start
  t.equal(r.status, 504)
  t.equal(r.body, 'upstream request timeout')
  t.equal(up.requests.length, 3, 'one try and two retries')
  t.same(up.requests.map(x => x.headers['x-envoy-attempt-count']), ['1', '2', '3'])
  t.ok(elapsed >= 600 && elapsed < 2000, `three 200 ms tries plus backoff: ${Math.round(elapsed)} ms`)
  t.equal(await f.clusterStat('upstream_rq_per_try_timeout'), 3)
  t.equal(await f.clusterStat('upstream_rq_retry'), 2)
  t.equal(await f.clusterStat('upstream_rq_retry_limit_exceeded'), 1)
  t.equal(await f.clusterStat('upstream_rq_retry_success'), 0)
  const [line] = await f.waitForLogs(1)
  t.equal(line.response_code, 504)
  t.match(String(line.response_flags), /UT/)
  t.match(String(line.response_flags), /URX/)
})

t.test('the route timeout covers every retry', async t => {
  const up = await slowUpstream(3000)
  t.teardown(() => up.close())
  const f = await startFerryWithLog(httpbinConfig([up.port], '    timeout: 500ms\n    retries: {attempts: 5, perTryTimeout: 200ms, retryOn: 5xx}\n'))
  t.teardown(() => f.stop())
  const start = performance.now()
  const r = await request(f.port, '/')
  const elapsed = performance.now() - start
  t.equal(r.status, 504)
  t.equal(r.body, 'upstream request timeout')
  t.ok(elapsed >= 450 && elapsed < 1500, `the route timeout ended it: ${Math.round(elapsed)} ms`)
  t.ok(up.requests.length >= 2 && up.requests.length <= 3, `${up.requests.length} tries fit in 500 ms`)
  t.equal(await f.clusterStat('upstream_rq_timeout'), 1)
})

t.test('a per-try timeout that recovers: the second try answers in time', async t => {
  const up = await startUpstream((_req, res, _body, i) => {
    const timer = setTimeout(() => res.end(`try ${i + 1}`), i === 0 ? 3000 : 0)
    res.on('close', () => clearTimeout(timer))
  })
  t.teardown(() => up.close())
  const f = await startFerryWithLog(httpbinConfig([up.port], '    retries: {attempts: 2, perTryTimeout: 200ms, retryOn: reset}\n'))
  t.teardown(() => f.stop())
  const r = await request(f.port, '/')
  t.equal(r.status, 200)
  t.equal(r.body, 'try 2')
  t.equal(await f.clusterStat('upstream_rq_per_try_timeout'), 1)
  t.equal(await f.clusterStat('upstream_rq_retry'), 1)
  t.equal(await f.clusterStat('upstream_rq_retry_success'), 1)
})
