#!/usr/bin/env node
// Demo httpbin-ish upstream on 127.0.0.1:8001: `/get` answers JSON after 50 ms, slow enough
// that three concurrent clients trip maxConnections 1 / http1MaxPendingRequests 1.
'use strict'
const http = require('node:http')
const port = Number(process.env.PORT || 8001)
const delayMs = Number(process.env.DELAY_MS || 50)
http.createServer((req, res) => {
  const timer = setTimeout(() => {
    const body = JSON.stringify({ url: req.url, headers: req.headers }) + '\n'
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) })
    res.end(body)
  }, delayMs)
  res.on('close', () => clearTimeout(timer))
}).listen(port, '127.0.0.1', () => console.log(`upstream on 127.0.0.1:${port} (${delayMs} ms per request)`))
