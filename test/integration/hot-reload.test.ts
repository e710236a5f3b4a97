// Hot reload through the file watcher: a changed file is served without a restart, an invalid one
// is logged and ignored (the last good snapshot keeps serving), and a request in flight during a
// reload finishes on the snapshot it started with.

import t from 'tap'
import { Writable } from 'node:stream'
import type { ServerResponse } from 'node:http'
import { startUpstream, startFerry, request, serviceEntry, GATEWAY } from '../helpers/harness'
import { Logger } from '../../src/observability/logger'

async function eventually (check: () => boolean | Promise<boolean>, ms = 5000): Promise<boolean> {
  const deadline = Date.now() + ms
  while (!(await check())) {
    if (Date.now() > deadline) return false
    await new Promise(resolve => setTimeout(resolve, 20))
  }
  return true
}

/** A VirtualService: /probe answers `version` directly; /slow goes to `slowHost` and is tagged. */
const vs = (version: string, slowHost: string): string => `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reload}
spec:
  hosts: ["*"]
  gateways: [gw]
  http:
  - match: [{uri: {exact: /probe}}]
    directResponse: {status: 200, body: {string: "${version}"}}
  - match: [{uri: {prefix: /slow}}]
    headers: {response: {set: {x-version: "${version}"}}}
    route: [{destination: {host: ${slowHost}}}]
  - match: [{uri: {prefix: /${version}-only}}]
    route: [{destination: {host: ${slowHost}}}]
`

t.test('hot reload', async t => {
  const held: ServerResponse[] = []
  let arrived: () => void = () => {}
  const slow = await startUpstream((_req, res) => {
    held.push(res)
    arrived()
  })
  const other = await startUpstream((_req, res) => res.end('other'))
  t.teardown(async () => { await Promise.all([slow.close(), other.close()]) })

  let logText = ''
  const logStream = new Writable({
    write (chunk: Buffer, _enc, done) { logText += chunk.toString(); done() }
  })
  const base = GATEWAY + serviceEntry('slow.test', 80, [{ port: slow.port }]) + serviceEntry('other.test', 80, [{ port: other.port }])
  const f = await startFerry(base + vs('a', 'slow.test'), {}, { logger: new Logger('info', logStream) })
  t.teardown(() => f.stop())
  const probe = async (): Promise<string> => (await request(f.port, '/probe')).body

  t.test('a changed file is served', async t => {
    t.equal(await probe(), 'a')
    t.equal((await request(f.port, '/b-only')).status, 404)
    f.writeConfig(base + vs('b', 'other.test'))
    t.ok(await eventually(async () => (await probe()) === 'b'), 'new directResponse served')
    const r = await request(f.port, '/b-only')
    t.equal(r.status, 200, 'new route served')
    t.equal(r.body, 'other')
    t.equal((await request(f.port, '/a-only')).status, 404, 'old route gone')
    t.match(logText, /config reloaded: version 2/)
  })

  t.test('an invalid file is logged and the last good config keeps serving', async t => {
    const version = f.ferry.snapshot.version
    const mark = logText.length
    f.writeConfig(base + vs('c', 'other.test').replace('route: [{destination: {host: other.test}}]\n  - match: [{uri: {prefix: /c-only}}]', 'route: [{destination: {host: other.test}, weight: -5}]\n  - match: [{uri: {prefix: /c-only}}]'))
    t.ok(await eventually(() => /config reload rejected/.test(logText.slice(mark))), 'rejection logged')
    t.match(logText.slice(mark), /config\.yaml/, 'the log names the file')
    t.match(logText.slice(mark), /weight/, 'and the field')
    t.equal(f.ferry.snapshot.version, version, 'snapshot unchanged')
    t.equal(await probe(), 'b', 'still serving the last good config')
    t.equal((await request(f.port, '/b-only')).body, 'other')

    f.writeConfig('this: is: not: yaml: [\n')
    t.ok(await eventually(() => (logText.slice(mark).match(/config reload rejected/g) ?? []).length >= 2), 'a YAML syntax error is rejected too')
    t.equal(await probe(), 'b')
  })

  t.test('a request in flight during a reload finishes on its snapshot', async t => {
    f.writeConfig(base + vs('d', 'slow.test'))
    t.ok(await eventually(async () => (await probe()) === 'd'))
    const gotThere = new Promise<void>(resolve => { arrived = resolve })
    const inFlight = request(f.port, '/slow/1')
    await gotThere
    // Reload to a config where /slow goes elsewhere and slow.test no longer exists at all.
    f.writeConfig(GATEWAY + serviceEntry('other.test', 80, [{ port: other.port }]) + vs('e', 'other.test'))
    t.ok(await eventually(async () => (await probe()) === 'e'), 'the reload was applied while the request waited')
    const res = held.shift() as ServerResponse
    res.writeHead(200, { 'content-type': 'text/plain' })
    res.end('from slow')
    const r = await inFlight
    t.equal(r.status, 200, 'the in-flight request completed')
    t.equal(r.body, 'from slow', 'from the upstream it started with')
    t.equal(r.headers['x-version'], 'd', 'with the route of its own snapshot')
    const after = await request(f.port, '/slow/2')
    t.equal(after.body, 'other', 'new requests follow the new config')
    t.equal(after.headers['x-version'], 'e')
  })
})
