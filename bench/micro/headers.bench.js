'use strict'
// Micro benchmark for header handling on the request path: building the upstream request
// headers from the downstream rawHeaders (ActiveRequest.buildUpstreamHeaders in
// src/forwarding/active-request.ts: forwardableHeaders() plus the headers Ferry sets) and the
// downstream response headers from undici's Buffer pairs (responseHeaderList(), what
// onUpstreamHeaders hands writeHead). Both call Ferry's own functions from dist/; the
// "flat array" request build is a candidate, measured side by side (undici and
// ServerResponse.writeHead both accept [name, value, name, value, ...]).
//   npx tsc -p . && node bench/micro/headers.bench.js
const { randomUUID } = require('node:crypto')
const { dist, bench, header } = require('./harness')
const { HOP_BY_HOP, connectionTokens, forwardableHeaders } = dist('forwarding/hop-by-hop')
const { responseHeaderList } = dist('forwarding/active-request')
const { HeaderMutation } = dist('filters/header-mutation')

// What wrk / fortio send, and what a browser behind an ingress sends.
const CLIENTS = {
  'load generator (3 headers)': ['Host', 'bench.example.com', 'User-Agent', 'fortio.org/fortio-1.60.3', 'Accept', '*/*'],
  'browser via LB (14 headers)': [
    'Host', 'shop.example.com', 'Connection', 'keep-alive', 'User-Agent', 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0 Safari/537.36',
    'Accept', 'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8', 'Accept-Encoding', 'gzip, deflate, br',
    'Accept-Language', 'en-GB,en;q=0.9', 'Cookie', 'session=4f8a0c1e9b7d4a2f8c3e6b1d0a9f7e5c; theme=dark; ab=variant-b',
    'Referer', 'https://shop.example.com/productpage', 'X-Forwarded-For', '203.0.113.7', 'X-Forwarded-Proto', 'https',
    'X-Request-Id', '9c0a7d3e-5b2f-4c1a-8e6d-2f4b7a9c1e3d', 'X-B3-TraceId', '463ac35c9f6413ad48485a3953bb6124',
    'X-B3-SpanId', 'a2fb4a1d1a96d312', 'X-B3-Sampled', '0'
  ]
}

const route = { authorityRewrite: null, headers: { request: HeaderMutation.compile({ set: { 'x-route': 'reviews-v2' } }) } }
const socket = { remoteAddress: '10.1.2.3' }

function requestOf (raw) {
  const headers = {}
  for (let i = 0; i < raw.length; i += 2) headers[raw[i].toLowerCase()] = raw[i + 1]
  return { rawHeaders: raw, headers, socket }
}

/** As ActiveRequest.buildUpstreamHeaders: an object keyed by lower-case name. */
function buildObject (req, authority, requestId) {
  const h = forwardableHeaders(req.rawHeaders, req.headers.connection)
  h.host = route.authorityRewrite ?? authority
  const remote = req.socket.remoteAddress ?? ''
  const xff = h['x-forwarded-for']
  h['x-forwarded-for'] = xff === undefined ? remote : `${Array.isArray(xff) ? xff.join(', ') : xff}, ${remote}`
  if (h['x-forwarded-proto'] === undefined) h['x-forwarded-proto'] = 'http'
  h['x-request-id'] = requestId
  route.headers?.request?.apply(h)
  h['x-envoy-attempt-count'] = '1'
  return h
}

/** Candidate: a flat [name, value, ...] array, names kept as received; only the few names Ferry owns are compared. */
function buildFlat (req, authority, requestId) {
  const raw = req.rawHeaders
  const out = []
  const extraHop = req.headers.connection === undefined ? null : connectionTokens(req.headers.connection)
  let xff = null
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]
    const lower = name.toLowerCase()
    if (lower === 'host' || lower === 'x-request-id' || HOP_BY_HOP.has(lower) || (extraHop !== null && extraHop.includes(lower))) continue
    if (lower === 'x-forwarded-for') {
      xff = xff === null ? raw[i + 1] : `${xff}, ${raw[i + 1]}`
      continue
    }
    out.push(name, raw[i + 1])
  }
  out.push('host', route.authorityRewrite ?? authority)
  const remote = req.socket.remoteAddress ?? ''
  out.push('x-forwarded-for', xff === null ? remote : `${xff}, ${remote}`)
  if (req.headers['x-forwarded-proto'] === undefined) out.push('x-forwarded-proto', 'http')
  out.push('x-request-id', requestId, 'x-route', 'reviews-v2', 'x-envoy-attempt-count', '1')
  return out
}

// Upstream response headers as undici hands them to a dispatch handler: Buffer pairs.
const UPSTREAM_RESPONSE = ['Content-Type', 'text/plain', 'Content-Length', '1024', 'Date', 'Mon, 22 Apr 2024 10:00:00 GMT', 'Server', 'nginx/1.22.1', 'Connection', 'keep-alive']
  .map(s => Buffer.from(s, 'latin1'))

console.log(`node ${process.version}, ${require('node:os').cpus()[0].model}`)
header('upstream request headers (buildUpstreamHeaders), fixed x-request-id')
for (const [name, raw] of Object.entries(CLIENTS)) {
  const req = requestOf(raw)
  bench(`object map (current), ${name}`, () => buildObject(req, 'reviews:9080', 'id').host.length)
  bench(`flat array (candidate), ${name}`, () => buildFlat(req, 'reviews:9080', 'id').length)
}
header('x-request-id generation (a new id per request without one)')
bench('crypto.randomUUID()', () => randomUUID().length)
header('downstream response headers (onUpstreamHeaders), 5 upstream headers as Buffers')
bench('Buffer pairs -> flat list (responseHeaderList)', () => responseHeaderList(UPSTREAM_RESPONSE, 0).length)
