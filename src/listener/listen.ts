// Binding a server, as a promise that rejects on EADDRINUSE and friends instead of emitting.

import type { Server } from 'node:net'

export function listenOn (server: Server, port: number, address: string): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(port, address, () => {
      server.off('error', reject)
      resolve()
    })
  })
}
