#!/usr/bin/env node
// Demo upstream on 127.0.0.1:8001 that fails twice with 503, then succeeds, over and over
// (requests 1 and 2 fail, 3 succeeds, 4 and 5 fail, ...). Plain Node, no dependencies.
'use strict'
const http = require('node:http')
const port = Number(process.env.PORT || 8001)
let n = 0
http.createServer((req, res) => {
  n++
  const status = n % 3 === 0 ? 200 : 503
  console.log(`${req.method} ${req.url} x-envoy-attempt-count=${req.headers['x-envoy-attempt-count']} -> ${status}`)
  res.writeHead(status, { 'content-type': 'text/plain' })
  res.end(`request ${n}: ${status}\n`)
}).listen(port, '127.0.0.1', () => console.log(`upstream on 127.0.0.1:${port}`))
