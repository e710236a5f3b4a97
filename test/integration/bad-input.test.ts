// Hostile or broken input on either side. Downstream: every request-smuggling and malformed
// request vector gets 400 (or 431) and never reaches the upstream. Upstream: a reset, garbage
// bytes, or a refused port become Envoy's 503/502 local replies. A slow client does not hold up
// others, and nothing here takes the process down.

import t from 'tap'
import net from 'node:net'
import { startUpstream, startFerry, request, rawRequest, serviceEntry, freePort, GATEWAY } from '../helpers/harness'

const VS = `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: bad}
spec:
  hosts: ["*"]
  gateways: [gw]
  http:
  - match: [{uri: {prefix: /reset}}]
    route: [{destination: {host: reset.test}}]
  - match: [{uri: {prefix: /garbage}}]
    route: [{destination: {host: garbage.test}}]
  - match: [{uri: {prefix: /refused}}]
    route: [{destination: {host: refused.test}}]
  - route: [{destination: {host: good.test}}]
`
const RESET_PREFIX = 'upstream connect error or disconnect/reset before headers. reset reason: '

/** A TCP server that reads a request head and then does `act` to the socket. */
async function rawUpstream (act: (sock: net.Socket) => void): Promise<{ port: number, connections: () => number, close: () => Promise<void> }> {
  let n = 0
  const sockets = new Set<net.Socket>()
  const server = net.createServer(sock => {
    n++
    sockets.add(sock)
    sock.on('close', () => sockets.delete(sock))
    sock.on('error', () => {})
    let head = ''
    sock.on('data', (c: Buffer) => {
      head += c.toString('latin1')
      if (head.includes('\r\n\r\n')) act(sock)
    })
  })
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  return {
    port: (server.address() as net.AddressInfo).port,
    connections: () => n,
    close: () => new Promise<void>(resolve => {
      for (const s of sockets) s.destroy()
      server.close(() => resolve())
    })
  }
}

t.test('bad input', async t => {
  const good = await startUpstream()
  const reset = await rawUpstream(sock => sock.resetAndDestroy())
  const garbage = await rawUpstream(sock => sock.end('\x00\x01\x02 this is not HTTP at all\r\n\r\n'))
  const refusedPort = await freePort()
  t.teardown(async () => { await Promise.all([good.close(), reset.close(), garbage.close()]) })
  const yaml = GATEWAY +
    serviceEntry('good.test', 80, [{ port: good.port }]) +
    serviceEntry('reset.test', 80, [{ port: reset.port }]) +
    serviceEntry('garbage.test', 80, [{ port: garbage.port }]) +
    serviceEntry('refused.test', 80, [{ port: refusedPort }]) + VS
  const f = await startFerry(yaml)
  t.teardown(() => f.stop())

  const vectors: Array<[string, string, number]> = [
    ['Content-Length with Transfer-Encoding', 'POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n', 400],
    ['two differing Content-Length', 'POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!', 400],
    ['Transfer-Encoding: xchunked', 'POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: xchunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n', 400],
    ['Transfer-Encoding: chunked, identity', 'POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, identity\r\n\r\n5\r\nhello\r\n0\r\n\r\n', 400],
    ['space before the colon of Transfer-Encoding', 'POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding : chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n', 400],
    ['Transfer-Encoding on a folded line', 'POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding:\r\n chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n', 400],
    ['header line starting with a space', 'POST / HTTP/1.1\r\nHost: a\r\n Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n', 400],
    ['vertical tab before chunked', 'POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding:\x0bchunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n', 400],
    ['bare LF line endings', 'GET / HTTP/1.1\nHost: a\n\n', 400],
    ['bare LF after a header', 'GET / HTTP/1.1\r\nHost: a\nX-A: b\r\n\r\n', 400],
    ['NUL in a header value', 'GET / HTTP/1.1\r\nHost: a\r\nX-Bad: a\x00b\r\n\r\n', 400],
    ['CR in a header value', 'GET / HTTP/1.1\r\nHost: a\r\nX-Bad: a\rb\r\n\r\n', 400],
    ['missing Host on HTTP/1.1', 'GET / HTTP/1.1\r\nX-A: b\r\n\r\n', 400],
    ['non-origin-form target', 'GET foo HTTP/1.1\r\nHost: a\r\n\r\n', 400],
    ['header section over 60 KiB', `GET / HTTP/1.1\r\nHost: a\r\n${Array.from({ length: 70 }, (_, i) => `X-Filler-${i}: ${'x'.repeat(1000)}\r\n`).join('')}\r\n`, 431]
  ]
  for (const [name, bytes, status] of vectors) {
    t.test(name, async t => {
      const raw = await rawRequest(f.port, bytes)
      t.match(raw, new RegExp(`^HTTP/1\\.1 ${status} `), `answered ${status}`)
      t.equal(good.requests.length, 0, 'nothing reached the upstream')
    })
  }

  t.test('a valid chunked body with whitespace around the value is accepted (OWS is legal)', async t => {
    const raw = await rawRequest(f.port, 'POST /ows HTTP/1.1\r\nHost: a\r\nTransfer-Encoding:  chunked \r\nConnection: close\r\n\r\n5\r\nhello\r\n0\r\n\r\n')
    t.match(raw, /^HTTP\/1\.1 200 /)
    t.equal(good.requests.at(-1)?.body.toString(), 'hello')
  })

  t.test('upstream resets the connection before answering: 503', async t => {
    const r = await request(f.port, '/reset')
    t.equal(r.status, 503)
    t.match(r.body, new RegExp(`^${RESET_PREFIX.replace(/[.]/g, '\\.')}(remote reset|connection termination)$`))
  })

  t.test('upstream answers garbage: 502 protocol error', async t => {
    const r = await request(f.port, '/garbage')
    t.equal(r.status, 502)
    t.equal(r.body, `${RESET_PREFIX}protocol error`)
  })

  t.test('upstream port refused: 503 connection failure', async t => {
    const r = await request(f.port, '/refused')
    t.equal(r.status, 503)
    t.equal(r.body, `${RESET_PREFIX}connection failure`)
  })

  t.test('a client sending headers byte by byte does not stop others', async t => {
    const slow = net.connect(f.port, '127.0.0.1')
    slow.on('error', () => {})
    t.teardown(() => slow.destroy())
    let answer = ''
    const answered = new Promise<void>(resolve => {
      slow.on('data', (c: Buffer) => { answer += c.toString('latin1') })
      slow.on('close', () => resolve())
    })
    const head = 'GET /slow HTTP/1.1\r\nHost: slow.test\r\nX-Slowly: one-byte-at-a-time\r\nConnection: close\r\n\r\n'
    let i = 0
    const dribble = setInterval(() => {
      if (i < head.length) slow.write(head[i++])
      if (i >= head.length) clearInterval(dribble)
    }, 10)
    t.teardown(() => clearInterval(dribble))
    for (let k = 0; k < 10; k++) {
      const r = await request(f.port, `/fast/${k}`)
      t.equal(r.status, 200, `fast request ${k} served`)
    }
    t.ok(i < head.length, `the slow client was still sending (${i}/${head.length} bytes) while 10 others were served`)
    await answered
    t.match(answer, /^HTTP\/1\.1 200 /, 'the slow client is served too once its headers are complete')
  })

  t.test('a sidecar capture listener also times out a client that never finishes its headers', async t => {
    const side = await startFerry(serviceEntry('good.test', 80, [{ port: good.port }]), {}, {
      role: 'sidecar',
      sidecar: { outbound: 0, inbound: 0, health: -1, prometheus: -1 },
      sidecarAddress: '127.0.0.1',
      listener: { keepAliveTimeoutMs: 5000, headersTimeoutMs: 300 }
    })
    t.teardown(() => side.stop())
    const raw = await rawRequest(side.ferry.sidecarPorts.outbound, 'GET / HTTP/1.1\r\nHost: good.test\r\nX-Never-Ends: ', 5000)
    t.match(raw, /^HTTP\/1\.1 408 /, '408 once headersTimeout passes')
  })

  t.test('the process survived all of it', async t => {
    const r = await request(f.port, '/still-alive')
    t.equal(r.status, 200)
  })
})
