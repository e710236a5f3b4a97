#!/usr/bin/env node
// Demo upstream on 127.0.0.1:8001 that logs every request it gets and answers 200 at once, so you
// can see that aborted requests never arrive. Plain Node, no dependencies.
'use strict'
const http = require('node:http')
const port = Number(process.env.PORT || 8001)
http.createServer((req, res) => {
  console.log(`${new Date().toISOString()} ${req.method} ${req.url} end-user=${req.headers['end-user'] || '-'}`)
  res.writeHead(200, { 'content-type': 'text/plain' })
  res.end('hello from the upstream\n')
}).listen(port, '127.0.0.1', () => console.log(`upstream on 127.0.0.1:${port}`))
