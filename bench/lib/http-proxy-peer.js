'use strict'
// The node-http-proxy peer: the usual way a Node reverse proxy is written, with a keep-alive
// agent to the upstream. Only started when `http-proxy` resolves; Ferry does not depend on it.
//   node bench/lib/http-proxy-peer.js <listen port> <upstream port>
const http = require('node:http')
const httpProxy = require('http-proxy')

const [port, upstreamPort] = process.argv.slice(2).map(Number)
const agent = new http.Agent({ keepAlive: true, maxSockets: 128 })
const proxy = httpProxy.createProxyServer({ target: `http://127.0.0.1:${upstreamPort}`, agent, xfwd: true })
proxy.on('error', (_err, _req, res) => {
  res.writeHead(502)
  res.end()
})
http.createServer({ keepAliveTimeout: 300_000 }, (req, res) => proxy.web(req, res)).listen(port, '127.0.0.1')
process.on('SIGTERM', () => process.exit(0))
