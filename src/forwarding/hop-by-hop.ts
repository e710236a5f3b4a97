// Headers that belong to one connection and must not cross the proxy (RFC 9110 §7.6.1),
// plus the ones undici manages itself and rejects when given (expect, transfer-encoding).

import type { HeaderMap } from '../filters/header-mutation'

export const HOP_BY_HOP = new Set([
  'connection', 'keep-alive', 'proxy-connection', 'proxy-authenticate', 'proxy-authorization',
  'te', 'trailer', 'transfer-encoding', 'upgrade', 'expect', 'http2-settings'
])

/** Header names the `Connection` header lists are hop-by-hop for this message too. */
const NONE: readonly string[] = []

export function connectionTokens (value: string | string[] | undefined): readonly string[] {
  if (value === undefined) return NONE
  // Nearly every message says just `keep-alive` or `close`: answer those without splitting.
  if (typeof value === 'string' && value.length <= 10) {
    const lower = value.toLowerCase()
    if (lower === 'keep-alive' || lower === 'close') return NONE
  }
  const v = Array.isArray(value) ? value.join(',') : value
  const out: string[] = []
  for (const t of v.split(',')) {
    const name = t.trim().toLowerCase()
    if (name !== '' && name !== 'close' && name !== 'keep-alive') out.push(name)
  }
  return out
}

/**
 * The client's headers as they may go upstream: a map keyed by lower-case name, without the
 * hop-by-hop headers and those the client's `Connection` header names; a repeated name becomes
 * an array in arrival order. `raw` is IncomingMessage.rawHeaders ([name, value, ...]).
 */
export function forwardableHeaders (raw: readonly string[], connection: string | string[] | undefined): HeaderMap {
  const h: HeaderMap = {}
  const extraHop = connectionTokens(connection)
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i].toLowerCase()
    if (HOP_BY_HOP.has(name) || (extraHop.length > 0 && extraHop.includes(name))) continue
    const value = raw[i + 1]
    const prev = h[name]
    if (prev === undefined) h[name] = value
    else if (Array.isArray(prev)) prev.push(value)
    else h[name] = [prev, value]
  }
  return h
}
