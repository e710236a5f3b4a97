// Name, host and address syntax as Istio checks it (pkg/config/labels, validation/agent).
// Each function returns an error message, or undefined when the value is fine, so callers
// decide the field path and the severity.
import { isIP } from 'node:net'

// Istio's labels package accepts upper case in DNS-1123 labels (unlike Kubernetes'), and so do we.
const DNS1123_LABEL = '[a-zA-Z0-9](?:[-a-zA-Z0-9]*[a-zA-Z0-9])?'
const LABEL_RE = new RegExp(`^${DNS1123_LABEL}$`)
const WILDCARD_LABEL_RE = new RegExp(`^(?:\\*|(?:\\*|\\*-)?${DNS1123_LABEL})$`)
const QUALIFIED_NAME = '(?:[A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]'
const LABEL_KEY_RE = new RegExp(`^(${DNS1123_LABEL}(?:\\.${DNS1123_LABEL})*/)?(${QUALIFIED_NAME})$`)
const LABEL_VALUE_RE = new RegExp(`^(?:${QUALIFIED_NAME})?$`)

export function isDNS1123Label (s: string): boolean {
  return s.length <= 63 && LABEL_RE.test(s)
}

function isWildcardLabel (s: string): boolean {
  return s.length <= 63 && WILDCARD_LABEL_RE.test(s)
}

function checkDomainPreconditions (name: string): string | undefined {
  if (name.length > 255) return `domain name "${name}" too long (max 255)`
  if (name.length === 0) return 'empty domain name not allowed'
  return undefined
}

function checkLabels (domain: string): string | undefined {
  const parts = domain.split('.')
  const tld = parts[parts.length - 1]
  if (/^[+-]?\d+$/.test(tld)) return `domain name "${domain}" invalid (top level domain "${tld}" cannot be all-numeric)`
  for (let i = 0; i < parts.length; i++) {
    // A trailing dot (`istio.io.`) is an unambiguous absolute name.
    if (i === parts.length - 1 && parts[i] === '') return undefined
    if (!isDNS1123Label(parts[i])) return `domain name "${domain}" invalid (label "${parts[i]}" invalid)`
  }
  return undefined
}

export function checkFQDN (name: string): string | undefined {
  return checkDomainPreconditions(name) ?? checkLabels(name)
}

/** A domain that may have a wildcard in its first label only (`*.example.com`, `*`). */
export function checkWildcardDomain (name: string): string | undefined {
  const pre = checkDomainPreconditions(name)
  if (pre !== undefined) return pre
  const dot = name.indexOf('.')
  const first = dot < 0 ? name : name.slice(0, dot)
  if (!isWildcardLabel(first)) return `domain name "${name}" invalid (label "${first}" invalid)`
  return dot < 0 ? undefined : checkLabels(name.slice(dot + 1))
}

export function checkPartialWildcard (host: string): string | undefined {
  if (host.includes('*') && host.length !== 1 && !host.startsWith('*.')) return `partial wildcard "${host}" not allowed`
  return undefined
}

export function isIPAddress (s: string): boolean {
  return isIP(s) !== 0
}

/** `a.b.c.d`, an IPv6 address, or either in CIDR notation. */
export function checkIPSubnet (s: string): string | undefined {
  const slash = s.indexOf('/')
  if (slash < 0) return isIPAddress(s) ? undefined : `${s} is not a valid IP`
  const ip = s.slice(0, slash)
  const bits = s.slice(slash + 1)
  const family = isIP(ip)
  const max = family === 4 ? 32 : 128
  if (family === 0 || !/^\d{1,3}$/.test(bits) || Number(bits) > max) return `${s} is not a valid CIDR block`
  return undefined
}

export function checkPort (n: number): string | undefined {
  return Number.isInteger(n) && n >= 1 && n <= 65535 ? undefined : `port number ${n} must be in the range 1..65535`
}

/** Kubernetes label keys and values, as Istio's labels.Instance.Validate checks them. */
export function checkLabelKey (k: string): string | undefined {
  const m = LABEL_KEY_RE.exec(k)
  if (m === null) return `invalid tag key: "${k}"`
  if (m[1] !== undefined && m[1].length - 1 > 253) return `invalid tag key: "${k}" (DNS prefix is too long)`
  if (m[2].length > 63) return `invalid tag key: "${k}" (name is too long)`
  return undefined
}

export function checkLabelValue (v: string): string | undefined {
  return v.length <= 63 && LABEL_VALUE_RE.test(v) ? undefined : `invalid tag value: "${v}"`
}

const HEADER_NAME_RE = /^[-_A-Za-z0-9]+$/
const JWT_CLAIM_PREFIX = '@request.auth.claims.'

export function checkHeaderName (name: string): string | undefined {
  if (name === '') return 'header name cannot be empty'
  if (!HEADER_NAME_RE.test(name)) return `header name ${name} is not a valid header name`
  return undefined
}

/** JWT claim routing keys (`@request.auth.claims.group`) are allowed where headers are matched. */
export function isJwtClaimRoute (name: string): boolean {
  return name.startsWith(JWT_CLAIM_PREFIX) && name.length > JWT_CLAIM_PREFIX.length
}

export const UNIX_PREFIX = 'unix://'

export function checkUnixAddress (addr: string): string | undefined {
  if (addr === '') return 'unix address must not be empty'
  if (addr.startsWith('@')) return undefined // abstract socket
  if (!addr.startsWith('/') || addr.endsWith('/')) return `${addr} is not an absolute path to a file`
  return undefined
}

/** Istio parses port protocols case-insensitively; an unknown one is rejected. */
const PROTOCOLS: Record<string, string> = {
  tcp: 'TCP', udp: 'UDP', grpc: 'GRPC', 'grpc-web': 'GRPC-Web', http: 'HTTP', http_proxy: 'HTTP_PROXY',
  http2: 'HTTP2', https: 'HTTPS', tls: 'TLS', mongo: 'Mongo', redis: 'Redis', mysql: 'MySQL'
}

export function parseProtocol (p: string): string | undefined {
  return PROTOCOLS[p.toLowerCase()]
}

export function isHTTPProtocol (p: string | undefined): boolean {
  return p === 'HTTP' || p === 'HTTP2' || p === 'HTTP_PROXY' || p === 'GRPC' || p === 'GRPC-Web'
}

export function isTLSProtocol (p: string | undefined): boolean {
  return p === 'HTTPS' || p === 'TLS'
}
