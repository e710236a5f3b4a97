// One error registry (style habit 7): every way Ferry answers a request itself has a stable
// code, the HTTP status Envoy uses, Envoy's response flag, Envoy's body, and the
// %RESPONSE_CODE_DETAILS% string. Logic reads codes, never messages.

export type ResponseFlag =
  | 'NR' | 'NC' | 'UH' | 'UF' | 'UO' | 'URX' | 'UT' | 'UC' | 'UR' | 'UPE' | 'DC' | 'DI' | 'FI' | 'RL' | 'DPE'
  | 'LR' | 'SI' | 'IH' | 'UMSDR' | 'DF' | 'OM' | 'DO'

export interface LocalReplySpec {
  readonly status: number
  readonly flag: ResponseFlag
  readonly body: string
  readonly details: string
  /** Extra response headers Envoy sets with this reply. */
  readonly headers?: Readonly<Record<string, string>>
}

const RESET_PREFIX = 'upstream connect error or disconnect/reset before headers. '

export const LocalReply = {
  noRoute: { status: 404, flag: 'NR', body: '', details: 'route_not_found' },
  noCluster: { status: 503, flag: 'NC', body: '', details: 'cluster_not_found' },
  noHealthyUpstream: { status: 503, flag: 'UH', body: 'no healthy upstream', details: 'no_healthy_upstream' },
  connectFailure: { status: 503, flag: 'UF', body: `${RESET_PREFIX}reset reason: connection failure`, details: 'upstream_reset_before_response_started{connection_failure}' },
  connectionTermination: { status: 503, flag: 'UC', body: `${RESET_PREFIX}reset reason: connection termination`, details: 'upstream_reset_before_response_started{connection_termination}' },
  remoteReset: { status: 503, flag: 'UR', body: `${RESET_PREFIX}reset reason: remote reset`, details: 'upstream_reset_before_response_started{remote_reset}' },
  protocolError: { status: 502, flag: 'UPE', body: `${RESET_PREFIX}reset reason: protocol error`, details: 'upstream_reset_before_response_started{protocol_error}' },
  overflow: { status: 503, flag: 'UO', body: `${RESET_PREFIX}reset reason: overflow`, details: 'upstream_reset_before_response_started{overflow}', headers: { 'x-envoy-overloaded': 'true' } },
  timeout: { status: 504, flag: 'UT', body: 'upstream request timeout', details: 'upstream_response_timeout' },
  faultAbort: { status: 503, flag: 'FI', body: 'fault filter abort', details: 'fault_filter_abort' },
  badRequest: { status: 400, flag: 'DPE', body: 'Bad Request', details: 'http1.codec_error' },
  headersTooLarge: { status: 431, flag: 'DPE', body: 'Request Header Fields Too Large', details: 'http1.headers_too_large' },
  registryOnly: { status: 502, flag: 'NR', body: '', details: 'registry_only_blocked' }
} as const satisfies Record<string, LocalReplySpec>

/** What an upstream failure before any response byte means, from undici's error. */
export function classifyUpstreamError (err: unknown): LocalReplySpec {
  const code = (err as { code?: unknown } | null)?.code
  if (typeof code === 'string') {
    if (code === 'ECONNREFUSED' || code === 'EHOSTUNREACH' || code === 'ENETUNREACH' || code === 'ENOTFOUND' ||
      code === 'EAI_AGAIN' || code === 'UND_ERR_CONNECT_TIMEOUT' || code === 'EADDRNOTAVAIL') {
      return LocalReply.connectFailure
    }
    if (code === 'ECONNRESET') return LocalReply.remoteReset
  }
  if (isUpstreamProtocolError(err)) return LocalReply.protocolError
  return LocalReply.connectionTermination
}

/**
 * Whether undici's error says the upstream's bytes were not HTTP (Envoy: UPE, 502). undici 7
 * leaves HTTPParserError's `code` unset (it looks the llhttp error number up in a name->number
 * table), so the error's name is checked as well as the `HPE_` code.
 */
export function isUpstreamProtocolError (err: unknown): boolean {
  const e = err as { code?: unknown, name?: unknown } | null
  if (e?.name === 'HTTPParserError') return true
  const code = e?.code
  return typeof code === 'string' && (code.startsWith('HPE_') || code === 'UND_ERR_INFO' || code === 'UND_ERR_RES_CONTENT_LENGTH_MISMATCH')
}
