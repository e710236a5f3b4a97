import { isIPv4, isIPv6 } from 'node:net'

/** Zipkin v2 JSON (https://zipkin.io/zipkin-api/#/default/post_spans), the subset Ferry writes. */
export interface ZipkinEndpoint {
  serviceName?: string
  ipv4?: string
  ipv6?: string
  port?: number
}

export interface ZipkinAnnotation {
  /** Epoch microseconds. */
  timestamp: number
  value: string
}

export type ZipkinKind = 'CLIENT' | 'SERVER' | 'PRODUCER' | 'CONSUMER'

export interface ZipkinSpan {
  /** 16 or 32 lower-case hex. */
  traceId: string
  /** 16 lower-case hex. */
  id: string
  parentId?: string
  name: string
  kind?: ZipkinKind
  /** Epoch microseconds, an integer. */
  timestamp: number
  /** Microseconds, an integer, at least 1 (Zipkin reads 0 as "unknown"). */
  duration: number
  localEndpoint: ZipkinEndpoint
  remoteEndpoint?: ZipkinEndpoint
  annotations?: ZipkinAnnotation[]
  /** Every value a string: Zipkin v2 rejects other JSON types in tags. */
  tags?: Record<string, string>
  debug?: boolean
  shared?: boolean
}

/** A finished span that can describe itself in Zipkin v2 form; serialisation happens off the request path. */
export interface ZipkinReportable {
  toZipkin(): ZipkinSpan
}

/**
 * A Zipkin endpoint from a socket address. Node reports IPv4 peers of a dual-stack socket as `::ffff:a.b.c.d`;
 * Zipkin indexes `ipv4` and `ipv6` separately, so those are unmapped to keep one host under one address.
 */
export function endpointFor(address: string | null, port: number, serviceName?: string): ZipkinEndpoint {
  const ep: ZipkinEndpoint = {}
  if (serviceName !== undefined && serviceName !== '') ep.serviceName = serviceName
  if (address !== null && address !== '') {
    const unmapped = address.startsWith('::ffff:') ? address.slice(7) : address
    if (isIPv4(unmapped)) ep.ipv4 = unmapped
    else if (isIPv6(address)) ep.ipv6 = address
  }
  if (port > 0 && port <= 65535) ep.port = port
  return ep
}
