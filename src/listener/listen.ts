// Binding a server, as a promise that rejects on EADDRINUSE and friends instead of emitting.

import { createServer, type Server } from 'node:net'

export function listenOn (server: Server, port: number, address: string): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(port, address, () => {
      server.off('error', reject)
      resolve()
    })
  })
}

/** The port a server is bound to (0 before it listens). */
export function boundPort (server: Server): number {
  const a = server.address()
  return typeof a === 'object' && a !== null ? a.port : 0
}

/** Closes a server at once: stops accepting and drops every connection (admin-style ports). */
export function closeNow (server: import('node:http').Server): Promise<void> {
  return new Promise(resolve => {
    server.close(() => resolve())
    server.closeAllConnections()
  })
}

/** A port free right now on `address` (the OS picks it; the caller binds it next). */
export async function freePort (address: string): Promise<number> {
  const probe = createServer()
  await listenOn(probe, 0, address)
  const port = boundPort(probe)
  await new Promise<void>(resolve => probe.close(() => resolve()))
  return port
}
