'use strict'
// The fallback upstream when neither fortio nor nginx is installed: 1 KB from memory with
// keep-alive, nothing else. Run as its own process so it can be pinned to a core.
//   node bench/lib/node-upstream.js <port>
const http = require('node:http')

const BODY = Buffer.alloc(1024, 'x')
const HEADERS = { 'content-type': 'text/plain', 'content-length': String(BODY.length) }

const server = http.createServer({ keepAliveTimeout: 300_000 }, (req, res) => {
  req.resume()
  res.writeHead(200, HEADERS)
  res.end(BODY)
})
server.listen(Number(process.argv[2]), '127.0.0.1')
process.on('SIGTERM', () => process.exit(0))
