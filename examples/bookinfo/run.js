#!/usr/bin/env node
'use strict'
// Bookinfo on a laptop: small demo upstreams standing in for Istio's bookinfo services, a Ferry
// ingress gateway on :8080 (Istio's bookinfo-gateway.yaml) and a Ferry sidecar whose outbound
// listener (:15001) the demo productpage uses as its HTTP proxy, the way productpage's own
// sidecar would carry its calls to reviews in a mesh. Ctrl-C stops everything.
//
//   node examples/bookinfo/run.js
//   curl -s localhost:8080/productpage                        # gateway -> productpage -> sidecar -> reviews v3
//   curl -s localhost:8080/productpage -H 'end-user: jason'   # ... -> reviews v2
//   curl -s -x http://127.0.0.1:15001 http://reviews:9080/reviews/0 -H 'end-user: jason'

const http = require('node:http')
const path = require('node:path')
const { spawn } = require('node:child_process')

const ROOT = path.resolve(__dirname, '../..')
const CONFIG = path.join(__dirname, 'istio')
const SIDECAR_PROXY = { host: '127.0.0.1', port: 15001 }

/** One demo service: answers JSON naming itself, its version and what it was asked. */
function service (port, app, version, handler) {
  const server = http.createServer((req, res) => {
    const reply = (status, body) => {
      const text = JSON.stringify(body, null, 2) + '\n'
      res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) })
      res.end(text)
    }
    if (handler) handler(req, reply)
    else reply(200, { service: app, version, path: req.url, requestId: req.headers['x-request-id'] })
  })
  server.listen(port, '127.0.0.1')
  return server
}

/** A call through the sidecar's outbound listener, as an absolute-form (explicit proxy) request. */
function viaSidecar (url, headers) {
  return new Promise((resolve) => {
    const req = http.request({ ...SIDECAR_PROXY, path: url, headers, agent: false }, (res) => {
      let body = ''
      res.on('data', (c) => { body += c })
      res.on('end', () => {
        let parsed = body
        try { parsed = JSON.parse(body) } catch {}
        resolve({ status: res.statusCode, body: parsed })
      })
    })
    req.on('error', (err) => resolve({ status: 0, body: err.message }))
    req.end()
  })
}

const servers = [
  service(19080, 'productpage', 'v1', async (req, reply) => {
    // Forward the headers bookinfo's productpage forwards: the user and the tracing context.
    const forward = {}
    for (const h of ['end-user', 'x-request-id', 'x-b3-traceid', 'x-b3-spanid', 'x-b3-parentspanid', 'x-b3-sampled', 'x-b3-flags', 'b3']) {
      if (req.headers[h] !== undefined) forward[h] = req.headers[h]
    }
    const [reviews, details] = await Promise.all([
      viaSidecar('http://reviews:9080/reviews/0', forward),
      viaSidecar('http://details:9080/details/0', forward)
    ])
    reply(200, { service: 'productpage', path: req.url, user: req.headers['end-user'] ?? null, reviews, details })
  }),
  service(19081, 'reviews', 'v1'),
  service(19082, 'reviews', 'v2'),
  service(19083, 'reviews', 'v3'),
  service(19084, 'ratings', 'v1'),
  service(19085, 'details', 'v1')
]

const ferry = (args) => spawn(process.execPath, [path.join(ROOT, 'bin/ferry.js'), 'run', '--config', CONFIG, ...args], { stdio: ['ignore', 'inherit', 'inherit'] })

const children = [
  ferry(['--role', 'gateway', '--labels', 'istio=ingressgateway', '--gateway-address', '127.0.0.1', '--admin', '127.0.0.1:15010', '--access-log', '-']),
  ferry(['--role', 'sidecar', '--labels', 'app=productpage,version=v1', '--sidecar-address', '127.0.0.1', '--admin', '127.0.0.1:15000', '--access-log', '-'])
]

process.stdout.write(`bookinfo demo:
  gateway:  http://localhost:8080/productpage   (admin http://127.0.0.1:15010)
  sidecar:  http://127.0.0.1:15001 as HTTP proxy (admin http://127.0.0.1:15000, health :15021, metrics :15090)
Ctrl-C to stop.
`)

let stopping = false
function stop () {
  if (stopping) return
  stopping = true
  for (const c of children) c.kill('SIGTERM')
  for (const s of servers) s.close()
  setTimeout(() => process.exit(0), 1000).unref()
}
process.on('SIGINT', stop)
process.on('SIGTERM', stop)
for (const c of children) c.on('exit', (code) => { if (!stopping && code !== 0) { process.stderr.write(`ferry exited with ${code}\n`); stop() } })
