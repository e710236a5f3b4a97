// The access log through a real Ferry: Istio's default text line field by field, the JSON form,
// and that lines are written in batches after the requests, never by the request path itself.

import t, { type Test } from 'tap'
import fs from 'node:fs'
import { join } from 'node:path'
import { tmpdir } from 'node:os'
import { PassThrough } from 'node:stream'
import { Logger } from '../../src/observability/logger'
import { startUpstream, startFerry, request, serviceEntry, freePort, GATEWAY, type RunningFerry, type Upstream } from '../helpers/harness'
import { until } from './observability-helpers'

const VS = `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: logged}
spec:
  hosts: ["*"]
  gateways: [gw]
  http:
  - name: rewritten
    match: [{uri: {prefix: /old}}]
    rewrite: {uri: /new}
    route: [{destination: {host: echo.test}}]
  - name: ok
    match: [{uri: {prefix: /ok}}]
    route: [{destination: {host: echo.test}}]
  - name: dead
    match: [{uri: {prefix: /dead}}]
    retries: {attempts: 0}
    route: [{destination: {host: dead.test}}]
`
const ECHO = 'outbound|80||echo.test'

// Istio's default text format (see the issue and src/observability/access-log.ts), one capture per operator.
const TEXT_LINE = new RegExp('^\\[(?<start_time>[^\\]]+)\\] "(?<method>\\S+) (?<path>\\S+) (?<protocol>\\S+)" (?<response_code>\\d+) ' +
  '(?<response_flags>\\S+) (?<response_code_details>\\S+) (?<connection_termination_details>\\S+) "(?<upstream_transport_failure_reason>[^"]*)" ' +
  '(?<bytes_received>\\d+) (?<bytes_sent>\\d+) (?<duration>\\d+) (?<upstream_service_time>\\S+) "(?<x_forwarded_for>[^"]*)" ' +
  '"(?<user_agent>[^"]*)" "(?<request_id>[^"]*)" "(?<authority>[^"]*)" "(?<upstream_host>[^"]*)" (?<upstream_cluster>\\S+) ' +
  '(?<upstream_local_address>\\S+) (?<downstream_local_address>\\S+) (?<downstream_remote_address>\\S+) ' +
  '(?<requested_server_name>\\S+) (?<route_name>\\S+)$')

/** The operator names, in order. */
const FIELDS = [...TEXT_LINE.source.matchAll(/\?<(\w+)>/g)].map(m => m[1])

interface Logged { up: Upstream, f: RunningFerry, deadPort: number, logFile: string, lines: () => string[] }

async function setup (t: Test, format: 'text' | 'json'): Promise<Logged> {
  const up = await startUpstream((req, res, body) => {
    res.writeHead(200, { 'content-type': 'text/plain', 'content-length': '5' })
    res.end('hello')
    void body
  })
  t.teardown(() => up.close())
  const deadPort = await freePort()
  const logDir = fs.mkdtempSync(join(tmpdir(), 'ferry-log-'))
  const logFile = join(logDir, 'access.log')
  const f = await startFerry(GATEWAY + serviceEntry('echo.test', 80, [{ port: up.port }]) + serviceEntry('dead.test', 80, [{ port: deadPort }]) + VS, {},
    { accessLog: logFile, accessLogFormat: format })
  t.teardown(async () => {
    await f.stop()
    fs.rmSync(logDir, { recursive: true, force: true })
  })
  const lines = (): string[] => (fs.existsSync(logFile) ? fs.readFileSync(logFile, 'utf8') : '').split('\n').filter(l => l !== '')
  return { up, f, deadPort, logFile, lines }
}

t.test('text: Istio\'s default format, every field', async t => {
  const { up, f, deadPort, lines } = await setup(t, 'text')
  const startedMs = Date.now()
  const ok = await request(f.port, '/ok?x=1', { method: 'POST', body: 'ping', headers: { 'x-request-id': 'rid-ok', 'user-agent': 'tap-agent/1' } })
  t.equal(ok.status, 200)
  const dead = await request(f.port, '/dead', { headers: { 'x-request-id': 'rid-dead' } })
  t.equal(dead.status, 503)
  const nr = await request(f.port, '/nowhere', { headers: { 'x-request-id': 'rid-nr', 'x-forwarded-for': '203.0.113.9' } })
  t.equal(nr.status, 404)
  const rewritten = await request(f.port, '/old/thing', { headers: { 'x-request-id': 'rid-rw' } })
  t.equal(rewritten.status, 200)
  t.equal(up.requests[up.requests.length - 1].url, '/new/thing', 'the upstream saw the rewritten path')
  await until(() => lines().length === 4, 5000, 'four access log lines')

  const parsed = lines().map(l => {
    const m = TEXT_LINE.exec(l)
    t.ok(m, `line matches Istio's default format: ${l}`)
    return m?.groups ?? {}
  })
  const [okLine, deadLine, nrLine, rwLine] = parsed

  t.test('a proxied 200', async t => {
    const start = Date.parse(okLine.start_time)
    t.match(okLine.start_time, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/, 'START_TIME: ISO 8601 UTC with milliseconds')
    t.ok(start >= startedMs - 1000 && start <= Date.now(), 'START_TIME is when the request started')
    t.equal(okLine.method, 'POST')
    t.equal(okLine.path, '/ok?x=1', 'path with query')
    t.equal(okLine.protocol, 'HTTP/1.1')
    t.equal(okLine.response_code, '200')
    t.equal(okLine.response_flags, '-')
    t.equal(okLine.response_code_details, 'via_upstream')
    t.equal(okLine.connection_termination_details, '-')
    t.equal(okLine.upstream_transport_failure_reason, '-')
    t.equal(okLine.bytes_received, '4', 'BYTES_RECEIVED: the request body')
    t.equal(okLine.bytes_sent, '5', 'BYTES_SENT: the response body')
    t.equal(okLine.upstream_service_time, ok.headers['x-envoy-upstream-service-time'], 'RESP(X-ENVOY-UPSTREAM-SERVICE-TIME): what the client was told')
    t.ok(Number(okLine.duration) >= Number(okLine.upstream_service_time), 'DURATION covers the upstream service time')
    t.equal(okLine.x_forwarded_for, '127.0.0.1', 'the client address the proxy appended')
    t.equal(okLine.user_agent, 'tap-agent/1')
    t.equal(okLine.request_id, 'rid-ok')
    t.equal(okLine.authority, 'example.com')
    t.equal(okLine.upstream_host, `127.0.0.1:${up.port}`)
    t.equal(okLine.upstream_cluster, ECHO)
    t.equal(okLine.upstream_local_address, '-')
    t.equal(okLine.downstream_local_address, `127.0.0.1:${f.port}`)
    t.match(okLine.downstream_remote_address, /^127\.0\.0\.1:\d+$/)
    t.equal(okLine.requested_server_name, '-')
    t.equal(okLine.route_name, 'ok')
  })

  t.test('a connect failure: flags, details, the host that was tried', async t => {
    t.equal(deadLine.response_code, '503')
    t.equal(deadLine.response_flags, 'UF')
    t.equal(deadLine.response_code_details, 'upstream_reset_before_response_started{connection_failure}')
    t.equal(deadLine.upstream_host, `127.0.0.1:${deadPort}`)
    t.equal(deadLine.upstream_cluster, 'outbound|80||dead.test')
    t.equal(deadLine.upstream_service_time, '-', 'no upstream response, no service time')
    t.equal(deadLine.bytes_sent, String(Buffer.byteLength(dead.body)), 'the local reply body')
    t.equal(deadLine.route_name, 'dead')
  })

  t.test('no route', async t => {
    t.equal(nrLine.response_code, '404')
    t.equal(nrLine.response_flags, 'NR')
    t.equal(nrLine.response_code_details, 'route_not_found')
    t.equal(nrLine.upstream_host, '-')
    t.equal(nrLine.upstream_cluster, '-')
    t.equal(nrLine.route_name, '-')
    t.equal(nrLine.x_forwarded_for, '203.0.113.9, 127.0.0.1', 'appended before routing, so a 404 logs it too')
  })

  t.test('a rewritten request logs the path the client sent', async t => {
    t.equal(rwLine.path, '/old/thing', 'REQ(X-ENVOY-ORIGINAL-PATH?:PATH)')
    t.equal(rwLine.route_name, 'rewritten')
  })
})

t.test('json: the same fields as one object per line', async t => {
  const { up, f, lines } = await setup(t, 'json')
  await request(f.port, '/ok', { headers: { 'x-request-id': 'rid-json', 'user-agent': 'tap-json' } })
  await request(f.port, '/nowhere')
  await until(() => lines().length === 2, 5000, 'two JSON lines')
  const [ok, nr] = lines().map(l => JSON.parse(l) as Record<string, unknown>)
  t.same(Object.keys(ok).sort(), [...FIELDS].sort(), 'the fields of the text form, by the same names')
  t.equal(FIELDS.length, 24)
  t.equal(ok.response_code, 200, 'numbers are JSON numbers')
  t.equal(ok.bytes_sent, 5)
  t.equal(ok.bytes_received, 0)
  t.type(ok.duration, 'number')
  t.type(ok.upstream_service_time, 'string', 'a header value, as %RESP()% gives it')
  t.equal(ok.request_id, 'rid-json')
  t.equal(ok.user_agent, 'tap-json')
  t.equal(ok.upstream_host, `127.0.0.1:${up.port}`)
  t.equal(ok.upstream_cluster, ECHO)
  t.equal(ok.response_flags, '-', 'RESPONSE_FLAGS is "-" when there are none, in JSON too')
  t.equal(ok.x_forwarded_for, '127.0.0.1', 'the client address the proxy appended')
  t.equal(ok.requested_server_name, null, 'an absent value is null in JSON, as Envoy writes it')
  t.equal(nr.response_flags, 'NR')
  t.equal(nr.upstream_host, null)
  t.equal(nr.upstream_cluster, null)
  t.equal(nr.upstream_service_time, null)
})

t.test('lines are written off the request path, in batches', async t => {
  // Record every write to the log file's stream: how many, and from where.
  const writes: Array<{ stack: string, lines: number }> = []
  const realCreate = fs.createWriteStream
  t.teardown(() => { fs.createWriteStream = realCreate })
  fs.createWriteStream = ((...args: Parameters<typeof fs.createWriteStream>) => {
    const stream = realCreate(...args)
    const realWrite = stream.write.bind(stream) as (chunk: unknown, ...rest: unknown[]) => boolean
    stream.write = ((chunk: unknown, ...rest: unknown[]) => {
      writes.push({ stack: new Error('write').stack ?? '', lines: String(chunk).split('\n').length - 1 })
      return realWrite(chunk, ...rest)
    }) as typeof stream.write
    return stream
  }) as typeof fs.createWriteStream
  const syncWrites: string[] = []
  for (const name of ['appendFileSync', 'writeFileSync', 'writeSync'] as const) {
    const real = fs[name] as (...a: unknown[]) => unknown
    t.teardown(() => { (fs as unknown as Record<string, unknown>)[name] = real })
    ;(fs as unknown as Record<string, unknown>)[name] = (...a: unknown[]) => {
      if (new Error('sync').stack?.includes('src/observability/access-log') === true) syncWrites.push(name)
      return real.apply(fs, a)
    }
  }

  const { f, lines } = await setup(t, 'text')
  const N = 60
  const replies = await Promise.all(Array.from({ length: N }, async (_x, i) => await request(f.port, `/ok/${i}`)))
  t.same(new Set(replies.map(r => r.status)), new Set([200]))
  await until(() => lines().length === N, 5000, `${N} lines`)
  t.equal(writes.reduce((n, w) => n + w.lines, 0), N, 'every line went through the stream')
  t.ok(writes.every(w => !w.stack.includes('ActiveRequest.finish') && w.stack.includes('processImmediate')),
    'no write happens inside a request\'s finish(): each is a flush scheduled with setImmediate')
  t.ok(writes.length <= N, `${N} lines in ${writes.length} write(s)`)
  t.same(syncWrites, [], 'no synchronous file write from the access log')
})

t.test('an access log path that cannot be opened stops start() with the path, not a crash later', async t => {
  const missing = join(tmpdir(), `ferry-no-such-dir-${process.pid}`, 'access.log')
  await t.rejects(startFerry(GATEWAY + serviceEntry('echo.test', 80, [{ port: 1 }]) + VS, {}, { accessLog: missing, accessLogFormat: 'text' }),
    { message: `access log ${missing}: ENOENT: no such file or directory, open '${missing}'` })
})

t.test('a failed write is logged once and the proxy keeps serving', async t => {
  const up = await startUpstream((_req, res) => res.end('hello'))
  t.teardown(() => up.close())
  let errors = ''
  const sink = new PassThrough()
  sink.on('data', (d: Buffer) => { errors += d.toString() })
  // /dev/full takes the open and fails every write with ENOSPC, as a full disk does.
  const f = await startFerry(GATEWAY + serviceEntry('echo.test', 80, [{ port: up.port }]) + VS, {},
    { accessLog: '/dev/full', accessLogFormat: 'text', logger: new Logger('error', sink) })
  t.teardown(() => f.stop())
  t.equal((await request(f.port, '/ok/1')).status, 200)
  await until(() => errors.includes('ENOSPC'), 5000, 'the write error in the log')
  const after = await Promise.all([request(f.port, '/ok/2'), request(f.port, '/ok/3')])
  t.same(after.map(r => r.status), [200, 200], 'requests after the failure are served')
  t.match(errors, /access logging stopped/)
  t.equal(errors.split('\n').filter(l => l.includes('ENOSPC')).length, 1, 'reported once, not once per line')
})
