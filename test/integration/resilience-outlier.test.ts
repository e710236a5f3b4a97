// Outlier detection (DestinationRule outlierDetection) with a real failing endpoint next to a good one.

import t from 'tap'
import { admin, freePort, request, startUpstream, type RunningFerry } from '../helpers/harness'
import { httpbinConfig, startFerryWithLog, waitFor, CLUSTER } from './resilience-helpers'

async function goodAndBad () {
  const good = await startUpstream((_req, res) => { res.writeHead(200, { 'content-length': '4' }).end('good') })
  const bad = await startUpstream((_req, res) => { res.writeHead(500, { 'content-length': '3' }).end('bad') })
  return { good, bad }
}

const healthFlags = async (f: RunningFerry, port: number): Promise<string | undefined> => {
  const text = (await admin(f, '/clusters')).body
  const line = text.split('\n').find(l => l.startsWith(`${CLUSTER}::127.0.0.1:${port}::health_flags::`))
  return line?.slice(line.lastIndexOf('::') + 2)
}

t.test('seed: consecutive5xxErrors 1 ejects the failing endpoint after at most one failure', async t => {
  const { good, bad } = await goodAndBad()
  t.teardown(() => good.close())
  t.teardown(() => bad.close())
  const od = '    outlierDetection: {consecutive5xxErrors: 1, interval: 1s, baseEjectionTime: 3m, maxEjectionPercent: 100}\n'
  const f = await startFerryWithLog(httpbinConfig([good.port, bad.port], '', od))
  t.teardown(() => f.stop())

  const statuses: number[] = []
  for (let i = 0; i < 20; i++) statuses.push((await request(f.port, `/${i}`)).status)
  const failures = statuses.filter(s => s === 500).length
  t.ok(failures <= 1, `${failures} request(s) failed`)
  const firstOk = statuses.indexOf(500) + 1
  t.same(statuses.slice(firstOk), Array(20 - firstOk).fill(200), 'after the failure, everything goes to the good host')
  t.equal(bad.requests.length, 1, 'the bad host was tried once (least-request picks it within 20 tries)')
  t.equal(await healthFlags(f, bad.port), '/failed_outlier_check')
  t.equal(await healthFlags(f, good.port), 'healthy')
  t.equal(await f.clusterStat('outlier_detection.ejections_active'), 1)
  t.equal(await f.clusterStat('outlier_detection.ejections_enforced_total'), 1)
  t.equal(await f.clusterStat('outlier_detection.ejections_enforced_consecutive_5xx'), 1)
  const json = JSON.parse((await admin(f, '/clusters?format=json')).body) as {
    cluster_statuses: Array<{ name: string, host_statuses: Array<{ address: { socket_address: { port_value: number } }, health_status: Record<string, unknown> }> }>
  }
  const c = json.cluster_statuses.find(x => x.name === CLUSTER)
  const badHost = c?.host_statuses.find(h => h.address.socket_address.port_value === bad.port)
  t.equal(badHost?.health_status.failed_outlier_check, true)
})

t.test('the ejected host returns after baseEjectionTime, on an interval tick', async t => {
  const { good, bad } = await goodAndBad()
  t.teardown(() => good.close())
  t.teardown(() => bad.close())
  const od = '    loadBalancer: {simple: ROUND_ROBIN}\n    outlierDetection: {consecutive5xxErrors: 1, interval: 100ms, baseEjectionTime: 300ms, maxEjectionPercent: 100}\n'
  const f = await startFerryWithLog(httpbinConfig([good.port, bad.port], '', od))
  t.teardown(() => f.stop())
  // Round robin reaches the bad host within two requests.
  for (let i = 0; i < 2; i++) await request(f.port, '/')
  t.equal(bad.requests.length, 1)
  t.equal(await healthFlags(f, bad.port), '/failed_outlier_check')
  const ejectedAt = performance.now()
  await waitFor(async () => (await healthFlags(f, bad.port)) === 'healthy', 'the host to come back', 3000)
  const after = performance.now() - ejectedAt
  t.ok(after >= 150 && after < 2000, `back after ${Math.round(after)} ms`)
  t.equal(await f.clusterStat('outlier_detection.ejections_active'), 0)
})

t.test('maxEjectionPercent (default 10%) keeps both of two hosts: ejections_overflow', async t => {
  const { good, bad } = await goodAndBad()
  t.teardown(() => good.close())
  t.teardown(() => bad.close())
  const od = '    loadBalancer: {simple: ROUND_ROBIN}\n    outlierDetection: {consecutive5xxErrors: 1, interval: 1s, baseEjectionTime: 3m}\n'
  const f = await startFerryWithLog(httpbinConfig([good.port, bad.port], '', od))
  t.teardown(() => f.stop())
  for (let i = 0; i < 6; i++) await request(f.port, '/')
  t.equal(bad.requests.length, 3, 'round robin keeps using the bad host')
  t.equal(await healthFlags(f, bad.port), 'healthy')
  t.equal(await f.clusterStat('outlier_detection.ejections_overflow'), 3)
  t.equal(await f.clusterStat('outlier_detection.ejections_active'), 0)
})

t.test('minHealthPercent: below it, the balancer panics and uses every host', async t => {
  const { good, bad } = await goodAndBad()
  t.teardown(() => good.close())
  t.teardown(() => bad.close())
  const od = '    loadBalancer: {simple: ROUND_ROBIN}\n    outlierDetection: {consecutive5xxErrors: 1, interval: 1s, baseEjectionTime: 3m, maxEjectionPercent: 100, minHealthPercent: 60}\n'
  const f = await startFerryWithLog(httpbinConfig([good.port, bad.port], '', od))
  t.teardown(() => f.stop())
  for (let i = 0; i < 8; i++) await request(f.port, '/')
  t.equal(await healthFlags(f, bad.port), '/failed_outlier_check', 'ejected')
  t.ok(bad.requests.length >= 3, `50% healthy < 60%: the ejected host still gets traffic (${bad.requests.length}/8)`)
  t.ok(((await f.clusterStat('lb_healthy_panic')) ?? 0) > 0, 'lb_healthy_panic counts panic picks')
})

t.test('without minHealthPercent an all-ejected cluster answers 503 UH', async t => {
  const bad = await startUpstream((_req, res) => { res.writeHead(500, { 'content-length': '3' }).end('bad') })
  t.teardown(() => bad.close())
  const od = '    outlierDetection: {consecutive5xxErrors: 1, interval: 1s, baseEjectionTime: 3m, maxEjectionPercent: 100}\n'
  const f = await startFerryWithLog(httpbinConfig([bad.port], '', od))
  t.teardown(() => f.stop())
  t.equal((await request(f.port, '/')).status, 500)
  const r = await request(f.port, '/')
  t.equal(r.status, 503)
  t.equal(r.body, 'no healthy upstream')
  const lines = await f.waitForLogs(2)
  t.equal(lines[1].response_flags, 'UH')
})

t.test('local-origin failures (connection refused) count as 5xx without the split', async t => {
  const good = await startUpstream()
  t.teardown(() => good.close())
  const dead = await freePort()
  const od = '    loadBalancer: {simple: ROUND_ROBIN}\n    outlierDetection: {consecutive5xxErrors: 2, interval: 1s, baseEjectionTime: 3m, maxEjectionPercent: 100}\n'
  const f = await startFerryWithLog(httpbinConfig([good.port, dead], '    retries: {attempts: 0}\n', od))
  t.teardown(() => f.stop())
  for (let i = 0; i < 4; i++) await request(f.port, '/')
  t.equal(await healthFlags(f, dead), '/failed_outlier_check')
  for (let i = 0; i < 4; i++) t.equal((await request(f.port, '/')).status, 200)
})
