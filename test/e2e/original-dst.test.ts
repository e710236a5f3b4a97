// originalDestination() against a real iptables REDIRECT, inside a network namespace this test creates.
// The 10.96.0.0/24 and fd00:96::/64 addresses exist only on an interface inside that namespace, and
// every connection stays inside it.

import t from 'tap'
import { spawnSync, type SpawnSyncReturns } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { existsSync } from 'node:fs'
import * as net from 'node:net'
import * as path from 'node:path'
import { isAddonLoaded, originalDestination, originalDestinationAvailable } from '../../src/listener/original-dst'

const MODULE = path.resolve(__dirname, '../../src/listener/original-dst')
const BUILT = existsSync(path.resolve(__dirname, '../../build/Release/original_dst.node'))
// Children load TypeScript the way this test was loaded; tap passes its loader in execArgv.
const LOADER = process.execArgv.filter((a) => a.includes('@tapjs/typescript'))

function sh(file: string, args: string[], env?: NodeJS.ProcessEnv): SpawnSyncReturns<string> {
  return spawnSync(file, args, { encoding: 'utf8', env: env ?? process.env, timeout: 30_000 })
}

/** A node program that listens on `port` at `host`, connects to `target`, prints what it learned. */
function probeScript(listenHost: string, port: number, targetHost: string, targetPort: number): string {
  return `
const net = require('node:net')
const od = require(${JSON.stringify(MODULE)})
const server = net.createServer((sock) => {
  console.log(JSON.stringify({ loaded: od.isAddonLoaded(), dst: od.originalDestination(sock), local: sock.localAddress + ':' + sock.localPort }))
  sock.destroy()
  server.close()
})
server.listen(${port}, ${JSON.stringify(listenHost)}, () => {
  const c = net.connect(${targetPort}, ${JSON.stringify(targetHost)})
  c.on('error', (err) => { console.error(err.message); process.exitCode = 3; server.close() })
})
setTimeout(() => { console.error('timed out'); process.exit(4) }, 10000).unref()
`
}

t.test('without a REDIRECT, the original destination is null (no root needed)', async (t) => {
  t.equal(isAddonLoaded(), BUILT, 'the addon loads exactly when node-gyp built it')
  if (BUILT && process.platform === 'linux') t.ok(originalDestinationAvailable())
  const server = net.createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const port = (server.address() as net.AddressInfo).port
  const accepted = new Promise<net.Socket>((resolve) => server.once('connection', resolve))
  const client = net.connect(port, '127.0.0.1')
  const sock = await accepted
  t.equal(originalDestination(sock), null, 'conntrack reports the local address, or nothing: not a capture')
  client.destroy()
  sock.destroy()
  await new Promise<void>((resolve) => server.close(() => resolve()))
  t.equal(originalDestination(sock), null, 'a closed socket has no fd')
  t.equal(originalDestination(new net.Socket()), null, 'an unconnected socket has no fd')
})

t.test('falls back cleanly when the addon is missing', async (t) => {
  const r = sh(process.execPath, [...LOADER, '-e', `
const net = require('node:net')
const od = require(${JSON.stringify(MODULE)})
console.log(JSON.stringify({ loaded: od.isAddonLoaded(), available: od.originalDestinationAvailable(), dst: od.originalDestination(new net.Socket()) }))
`], { ...process.env, FERRY_ORIGINAL_DST_ADDON: '/nonexistent/original_dst.node' })
  t.equal(r.status, 0, r.stderr)
  t.same(JSON.parse(r.stdout), { loaded: false, available: false, dst: null })
})

function netnsSkipReason(): string | null {
  if (process.platform !== 'linux') return 'SO_ORIGINAL_DST and network namespaces need Linux'
  if (process.getuid?.() !== 0) return 'needs root to create a network namespace and add a REDIRECT rule (CI runs as root)'
  if (!BUILT) return 'the original_dst addon is not built (npm ci / node-gyp rebuild failed)'
  if (sh('iptables', ['--version']).status !== 0) return 'iptables is not installed (apt-get install -y iptables)'
  if (sh('ip', ['netns', 'list']).status !== 0) return "'ip netns' is not available (iproute2)"
  return null
}

const reason = netnsSkipReason()
if (reason !== null) {
  t.test('REDIRECT in a network namespace', { skip: reason }, async () => {})
} else {
  t.test('REDIRECT in a network namespace', async (t) => {
    const ns = `ferry-test-${randomBytes(4).toString('hex')}`
    const inNs = (file: string, args: string[]): SpawnSyncReturns<string> => sh('ip', ['netns', 'exec', ns, file, ...args])
    const must = (file: string, args: string[]): void => {
      const r = inNs(file, args)
      if (r.status !== 0) throw new Error(`${file} ${args.join(' ')}: ${r.stderr}`)
    }
    const added = sh('ip', ['netns', 'add', ns])
    if (added.status !== 0) throw new Error(`ip netns add ${ns}: ${added.stderr}`)
    // Registered right after the add so the namespace goes away even when a later step throws.
    t.teardown(() => { sh('ip', ['netns', 'del', ns]) })

    must('ip', ['link', 'set', 'lo', 'up'])
    // The service range needs a route for connect() to send a SYN that OUTPUT can REDIRECT. A dummy
    // interface is the natural holder; kernels built without it (some sandboxes) get a veth pair whose
    // peer also stays in this namespace.
    let dev = 'dummy0'
    if (inNs('ip', ['link', 'add', dev, 'type', 'dummy']).status !== 0) {
      dev = 'ferry0'
      must('ip', ['link', 'add', dev, 'type', 'veth', 'peer', 'name', 'ferry1'])
      must('ip', ['link', 'set', 'ferry1', 'up'])
    }
    must('ip', ['addr', 'add', '10.96.0.1/24', 'dev', dev])
    must('ip', ['link', 'set', dev, 'up'])
    const port = 15001
    must('iptables', ['-t', 'nat', '-A', 'OUTPUT', '-p', 'tcp', '-d', '10.96.0.10', '--dport', '80', '-j', 'REDIRECT', '--to-ports', String(port)])

    const probe = (listenHost: string, target: string): { loaded: boolean, dst: unknown, local: string } => {
      const r = inNs(process.execPath, [...LOADER, '-e', probeScript(listenHost, port, target, 80)])
      if (r.status !== 0) throw new Error(`probe exited ${r.status}: ${r.stderr}`)
      return JSON.parse(r.stdout)
    }

    t.test('IPv4 listener (AF_INET)', async (t) => {
      const out = probe('0.0.0.0', '10.96.0.10')
      t.equal(out.loaded, true)
      t.same(out.dst, { address: '10.96.0.10', port: 80, family: 4 })
      t.equal(out.local, `127.0.0.1:${port}`, 'REDIRECT of locally generated traffic lands on 127.0.0.1')
    })

    t.test("dual-stack listener on '::' sees IPv4 as ::ffff:a.b.c.d", async (t) => {
      const out = probe('::', '10.96.0.10')
      t.same(out.dst, { address: '10.96.0.10', port: 80, family: 4 })
      t.equal(out.local, `::ffff:127.0.0.1:${port}`)
    })

    const v6 = inNs('ip6tables', ['-t', 'nat', '-L', '-n'])
    t.test('IPv6 listener (IP6T_SO_ORIGINAL_DST)', { skip: v6.status === 0 ? false : `ip6tables nat is not usable: ${v6.stderr.trim()}` }, async (t) => {
      must('ip', ['-6', 'addr', 'add', 'fd00:96::1/64', 'dev', dev, 'nodad'])
      must('ip6tables', ['-t', 'nat', '-A', 'OUTPUT', '-p', 'tcp', '-d', 'fd00:96::10', '--dport', '80', '-j', 'REDIRECT', '--to-ports', String(port)])
      const out = probe('::', 'fd00:96::10')
      t.same(out.dst, { address: 'fd00:96::10', port: 80, family: 6 })
    })
  })
}
