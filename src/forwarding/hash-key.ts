// The input of consistent-hash load balancing (DestinationRule consistentHash).

import type { IncomingMessage } from 'node:http'
import type { HashKeySource } from '../model/traffic-policy'
import type { RequestView } from '../routing/http-match'

export function hashKeyFor (src: HashKeySource, req: IncomingMessage, view: RequestView): string | null {
  switch (src.kind) {
    case 'header': {
      const v = req.headers[src.name]
      if (v === undefined) return null
      return Array.isArray(v) ? v.join(',') : v
    }
    case 'sourceIp':
      return req.socket.remoteAddress ?? null
    case 'cookie':
      return cookieValue(req.headers.cookie, src.name)
    case 'query':
      return queryValue(view.query, src.name)
  }
}

function cookieValue (header: string | undefined, name: string): string | null {
  if (header === undefined) return null
  for (const part of header.split(';')) {
    const eq = part.indexOf('=')
    if (eq < 0) continue
    if (part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim()
  }
  return null
}

function queryValue (query: string, name: string): string | null {
  if (query === '') return null
  for (const part of query.split('&')) {
    const eq = part.indexOf('=')
    const key = eq < 0 ? part : part.slice(0, eq)
    if (key === name) return eq < 0 ? '' : part.slice(eq + 1)
  }
  return null
}
