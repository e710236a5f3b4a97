// The destination a captured connection was heading for before `ferry init`'s REDIRECT rules sent it to
// the sidecar: Envoy's `envoy.filters.listener.original_dst`. Node has no getsockopt, so this reads
// SO_ORIGINAL_DST through a tiny N-API addon (native/original_dst.cc, built by `npm ci`).
//
// The addon is optional. Without it (no compiler at install time, or not Linux) originalDestination()
// always returns null and callers route by Host/SNI instead, which is what Envoy does for a listener
// without the original_dst filter. Callers check originalDestinationAvailable() once and log it.

import type * as net from 'node:net'
import * as path from 'node:path'

export interface OriginalDestination {
  readonly address: string
  readonly port: number
  readonly family: 4 | 6
}

interface OriginalDstAddon {
  originalDst(fd: number): OriginalDestination | null
  readonly supported: boolean
}

/** Where node-gyp puts the addon, from both src/listener (ts) and dist/listener (compiled). */
const ROOT = path.resolve(__dirname, '..', '..')
const CANDIDATES = [
  path.join(ROOT, 'build', 'Release', 'original_dst.node'),
  path.join(ROOT, 'build', 'Debug', 'original_dst.node'),
]

function isAddon(m: unknown): m is OriginalDstAddon {
  const o = m as Partial<OriginalDstAddon> | null
  return typeof o === 'object' && o !== null && typeof o.originalDst === 'function' && typeof o.supported === 'boolean'
}

/**
 * FERRY_ORIGINAL_DST_ADDON names the .node file explicitly (packaging that moves it out of build/);
 * when set, only that path is tried, so a wrong value shows up as "not loaded" instead of being masked.
 */
function loadAddon(): OriginalDstAddon | null {
  const explicit = process.env.FERRY_ORIGINAL_DST_ADDON
  for (const file of explicit !== undefined && explicit !== '' ? [explicit] : CANDIDATES) {
    try {
      const m: unknown = require(file)
      if (isAddon(m)) return m
    } catch {
      // Missing or built for another Node ABI: try the next candidate, then fall back to null.
    }
  }
  return null
}

// Loaded once at module load: dlopen is not free, and the answer cannot change while the process runs.
const addon: OriginalDstAddon | null = loadAddon()

/** True when the native addon was found and loaded (it may still be a stub on non-Linux). */
export function isAddonLoaded(): boolean {
  return addon !== null
}

/** True when originalDestination() can return something other than null on this machine. */
export function originalDestinationAvailable(): boolean {
  return addon !== null && addon.supported
}

type HandleWithFd = { _handle?: { fd?: number } | null }

/**
 * Where the peer was connecting to before iptables REDIRECT, or null when the connection was not
 * redirected (the original destination is the socket's own local address), conntrack has no entry,
 * or the addon is unavailable.
 */
export function originalDestination(socket: net.Socket): OriginalDestination | null {
  if (addon === null) return null
  // Node keeps the fd on its internal TCPWrap handle; -1 or missing once the socket is closed.
  const fd = (socket as unknown as HandleWithFd)._handle?.fd
  if (typeof fd !== 'number' || fd < 0) return null
  const dst = addon.originalDst(fd)
  if (dst === null) return null
  // Without a NAT rule conntrack still reports the tuple, which is just the local address: no capture.
  if (dst.port === socket.localPort && dst.address === unmapV4(socket.localAddress)) return null
  return dst
}

/** `::ffff:10.0.0.1` (IPv4 on a dual-stack socket) is reported by the kernel as plain `10.0.0.1`. */
function unmapV4(address: string | undefined): string | undefined {
  return address !== undefined && address.startsWith('::ffff:') && address.includes('.') ? address.slice(7) : address
}
