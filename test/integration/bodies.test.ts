// Message bodies through the proxy: big and chunked bodies both ways, HEAD, Expect: 100-continue,
// a large streamed upload that must not be buffered, WebSocket upgrade passthrough, and a client
// abort that must release the upstream request.

import t from 'tap'
import http from 'node:http'
import net from 'node:net'
import { createHash, randomBytes } from 'node:crypto'
import { Readable } from 'node:stream'
import { startUpstream, startFerry, stat, serviceEntry, GATEWAY } from '../helpers/harness'

const VS = `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: bodies}
spec:
  hosts: ["*"]
  gateways: [gw]
  http:
  - route: [{destination: {host: body.test}}]
`
const CLUSTER = 'cluster.outbound|80||body.test'
const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex')

async function eventually (check: () => boolean | Promise<boolean>, ms = 5000): Promise<boolean> {
  const deadline = Date.now() + ms
  while (!(await check())) {
    if (Date.now() > deadline) return false
    await new Promise(resolve => setTimeout(resolve, 10))
  }
  return true
}

/** A request on a fresh connection whose body is written by `write` (chunks, streams...). */
function send (port: number, opts: http.RequestOptions, write: (req: http.ClientRequest) => void): Promise<{ res: http.IncomingMessage, body: Buffer }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, agent: false, ...opts, headers: { host: 'bodies.test', ...opts.headers } }, res => {
      const chunks: Buffer[] = []
      res.on('data', (c: Buffer) => chunks.push(c))
      res.on('end', () => resolve({ res, body: Buffer.concat(chunks) }))
      res.on('error', reject)
    })
    req.on('error', reject)
    write(req)
  })
}

/** A raw connection that collects what the server sends and can wait for a pattern. */
function rawClient (port: number): { sock: net.Socket, received: () => string, waitFor: (re: RegExp, ms?: number) => Promise<string> } {
  const sock = net.connect(port, '127.0.0.1')
  let data = ''
  const waiters: Array<() => void> = []
  sock.on('data', (c: Buffer) => {
    data += c.toString('latin1')
    for (const w of waiters.splice(0)) w()
  })
  sock.on('error', () => {})
  return {
    sock,
    received: () => data,
    waitFor: async (re, ms = 5000) => {
      const deadline = Date.now() + ms
      while (!re.test(data)) {
        if (Date.now() > deadline || sock.destroyed) throw new Error(`timed out waiting for ${String(re)}; got ${JSON.stringify(data)}`)
        await Promise.race([new Promise<void>(resolve => waiters.push(resolve)), new Promise(resolve => setTimeout(resolve, 50))])
      }
      return data
    }
  }
}

t.test('bodies', async t => {
  const MiB = 1024 * 1024
  const responseBody = randomBytes(3 * MiB)
  let abortSeen: Promise<unknown> = Promise.resolve()
  let uploadBytes = 0
  let wsClosed: Promise<unknown> = Promise.resolve()
  // bufferBody false: the handler reads bodies itself, so the 256 MiB upload is only counted.
  const up = await startUpstream((req, res) => {
    if (req.url === '/upload') {
      uploadBytes = 0
      req.on('data', (c: Buffer) => { uploadBytes += c.length })
      req.on('end', () => res.end(String(uploadBytes)))
      return
    }
    if (req.url === '/slow-response') {
      abortSeen = Promise.all([new Promise(resolve => req.once('close', resolve)), new Promise(resolve => res.once('close', resolve))])
      req.on('error', () => {})
      res.writeHead(200, { 'content-type': 'text/plain' })
      res.write('first chunk;')
      return // never ends on its own: only the proxy letting go closes it
    }
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      const body = Buffer.concat(chunks)
      switch (req.url) {
        case '/big': {
          res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': responseBody.length, 'x-received-sha': sha(body), 'x-received-length': body.length })
          res.end(responseBody)
          return
        }
        case '/chunked': {
          res.writeHead(200, { 'content-type': 'text/plain', 'x-received': body.toString() })
          res.write('one,')
          setImmediate(() => { res.write('two,'); setImmediate(() => res.end('three')) })
          return
        }
        case '/head': {
          res.writeHead(200, { 'content-type': 'text/plain', 'content-length': 1234 })
          res.end(req.method === 'HEAD' ? undefined : 'x'.repeat(1234))
          return
        }
        default: {
          const out = `${req.method ?? ''} ${req.url ?? ''} ${body.length} ${body.toString().slice(0, 32)}`
          res.writeHead(200, { 'content-type': 'text/plain', 'content-length': Buffer.byteLength(out) })
          res.end(out)
        }
      }
    })
  }, { bufferBody: false })
  up.server.on('upgrade', (req: http.IncomingMessage, socket: net.Socket, head: Buffer) => {
    socket.write('HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: x\r\n\r\n')
    if (head.length > 0) socket.write(head)
    socket.on('data', (c: Buffer) => socket.write(Buffer.concat([Buffer.from('echo:'), c])))
    socket.on('error', () => {})
    // As the `ws` library does: the peer's FIN closes our side too.
    socket.on('end', () => socket.end())
    wsClosed = new Promise(resolve => socket.once('close', resolve))
  })
  t.teardown(() => up.close())
  const f = await startFerry(GATEWAY + serviceEntry('body.test', 80, [{ port: up.port }]) + VS)
  t.teardown(() => f.stop())

  t.test('3 MiB both ways, sha256 checked at each end', async t => {
    const requestBody = randomBytes(3 * MiB)
    const { res, body } = await send(f.port, { method: 'POST', path: '/big', headers: { 'content-length': requestBody.length } }, req => req.end(requestBody))
    t.equal(res.statusCode, 200)
    t.equal(res.headers['x-received-length'], String(requestBody.length))
    t.equal(res.headers['x-received-sha'], sha(requestBody), 'upstream got the exact request body')
    t.equal(body.length, responseBody.length)
    t.equal(sha(body), sha(responseBody), 'client got the exact response body')
  })

  t.test('chunked request and response', async t => {
    const { res, body } = await send(f.port, { method: 'POST', path: '/chunked' }, req => {
      req.write('alpha-')
      setImmediate(() => { req.write('beta-'); setImmediate(() => req.end('gamma')) })
    })
    t.equal(res.headers['x-received'], 'alpha-beta-gamma', 'upstream got the whole chunked body')
    t.equal(res.headers['transfer-encoding'], 'chunked', 'the response stays chunked')
    t.equal(body.toString(), 'one,two,three')
  })

  t.test('HEAD: headers only, the connection stays usable', async t => {
    const c = rawClient(f.port)
    t.teardown(() => c.sock.destroy())
    c.sock.write('HEAD /head HTTP/1.1\r\nHost: bodies.test\r\n\r\n')
    await c.waitFor(/\r\n\r\n/)
    t.match(c.received(), /^HTTP\/1\.1 200 /)
    t.match(c.received(), /content-length: 1234\r\n/i, 'content-length of the GET kept')
    c.sock.write('GET /other HTTP/1.1\r\nHost: bodies.test\r\nConnection: close\r\n\r\n')
    const all = await c.waitFor(/GET \/other 0 $/)
    t.equal(all.split('HTTP/1.1 200').length, 3, 'two responses on one connection, the HEAD with no body')
  })

  t.test('Expect: 100-continue', async t => {
    const c = rawClient(f.port)
    t.teardown(() => c.sock.destroy())
    c.sock.write('POST /expect HTTP/1.1\r\nHost: bodies.test\r\nContent-Length: 5\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n')
    await c.waitFor(/^HTTP\/1\.1 100 Continue\r\n\r\n/)
    t.pass('100 Continue before the body is sent')
    c.sock.write('hello')
    const all = await c.waitFor(/POST \/expect 5 hello$/)
    t.match(all, /^HTTP\/1\.1 100 Continue\r\n\r\nHTTP\/1\.1 200 /, 'then the final response')
    t.notOk('expect' in (up.requests.at(-1)?.headers ?? {}), 'Expect is not forwarded')
  })

  t.test('256 MiB streamed upload is not held in memory', async t => {
    const total = 256 * MiB
    const chunk = randomBytes(64 * 1024)
    let sent = 0
    const source = new Readable({
      read () {
        if (sent >= total) { this.push(null); return }
        sent += chunk.length
        this.push(chunk)
      }
    })
    global.gc?.()
    const base = process.memoryUsage().rss
    let peak = base
    const sampler = setInterval(() => { peak = Math.max(peak, process.memoryUsage().rss) }, 20)
    t.teardown(() => clearInterval(sampler))
    const { res, body } = await send(f.port, { method: 'PUT', path: '/upload', headers: { 'content-length': total, 'content-type': 'application/octet-stream' } }, req => source.pipe(req))
    clearInterval(sampler)
    peak = Math.max(peak, process.memoryUsage().rss)
    t.equal(res.statusCode, 200)
    t.equal(body.toString(), String(total), 'the upstream counted every byte')
    const growth = (peak - base) / MiB
    t.ok(growth < 96, `rss grew ${growth.toFixed(1)} MiB for a 256 MiB upload`)
  })

  t.test('WebSocket upgrade passes through', async t => {
    const c = rawClient(f.port)
    t.teardown(() => c.sock.destroy())
    c.sock.write('GET /ws HTTP/1.1\r\nHost: bodies.test\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n' +
      'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n')
    await c.waitFor(/\r\n\r\n/)
    t.match(c.received(), /^HTTP\/1\.1 101 /, '101 Switching Protocols relayed')
    t.match(c.received(), /upgrade: websocket/i)
    c.sock.write('frame-1')
    await c.waitFor(/echo:frame-1/)
    c.sock.write(Buffer.from([0x81, 0x02, 0x68, 0x69]))
    await c.waitFor(/echo:frame-1echo:\x81\x02hi/)
    t.pass('bytes flow both ways after the upgrade')
    const downstreamClosed = new Promise(resolve => c.sock.once('close', resolve))
    c.sock.end()
    await wsClosed
    t.pass('the client closing closes the upstream socket')
    await downstreamClosed
    t.pass('and the proxy closes the client socket')
  })

  t.test('a client abort mid-response releases the upstream request', async t => {
    const sock = net.connect(f.port, '127.0.0.1')
    sock.on('error', () => {})
    sock.write('GET /slow-response HTTP/1.1\r\nHost: bodies.test\r\n\r\n')
    let got = ''
    await new Promise<void>(resolve => {
      sock.on('data', (c: Buffer) => {
        got += c.toString('latin1')
        if (got.includes('first chunk;')) resolve()
      })
    })
    t.equal(await stat(f, `${CLUSTER}.upstream_rq_active`), 1, 'one upstream request active while streaming')
    sock.destroy()
    await abortSeen
    t.pass("the upstream saw its request and response 'close'")
    t.ok(await eventually(async () => (await stat(f, `${CLUSTER}.upstream_rq_active`)) === 0), 'upstream_rq_active back to 0')
  })
})
