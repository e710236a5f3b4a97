// WebSocket upgrades looked up the route table by the listener's own port, so on a sidecar
// (tables keyed by the destination port) every upgrade got 404.
import t from 'tap'
import net from 'node:net'
import type { IncomingMessage } from 'node:http'
import { rawRequest, serviceEntry, startFerry, startUpstream } from '../helpers/harness'

t.test('a WebSocket upgrade through the sidecar outbound listener reaches the service', async t => {
  const up = await startUpstream()
  const upgraded: net.Socket[] = []
  up.server.on('upgrade', (_req: IncomingMessage, socket: net.Socket) => {
    upgraded.push(socket)
    socket.on('error', () => {})
    socket.write('HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: Upgrade\r\n\r\n')
    socket.on('data', (d: Buffer) => socket.write(d))
  })
  // Upgraded sockets leave the HTTP server's bookkeeping: close them, or closing it waits.
  t.teardown(() => { for (const s of upgraded) s.destroy(); return up.close() })
  const f = await startFerry(serviceEntry('ws.default.svc.cluster.local', 8000, [{ port: up.port }]), {}, {
    role: 'sidecar',
    sidecar: { outbound: 0, inbound: 0, health: -1, prometheus: -1 },
    sidecarAddress: '127.0.0.1'
  })
  t.teardown(() => f.stop())
  const answer = await rawRequest(f.ferry.sidecarPorts.outbound,
    'GET /chat HTTP/1.1\r\nhost: ws.default.svc.cluster.local:8000\r\nconnection: Upgrade\r\nupgrade: websocket\r\n\r\nping', 300)
  t.match(answer, /^HTTP\/1\.1 101/, 'switched protocols')
  t.match(answer, /ping$/, 'bytes echoed after the upgrade')
})
