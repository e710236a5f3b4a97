#!/usr/bin/env node
// Two demo endpoints: 127.0.0.1:8001 answers 200, 127.0.0.1:8002 answers 500 to everything.
// Plain Node, no dependencies.
'use strict'
const http = require('node:http')
for (const [port, status] of [[8001, 200], [8002, 500]]) {
  http.createServer((req, res) => {
    console.log(`:${port} ${req.method} ${req.url} -> ${status}`)
    res.writeHead(status, { 'content-type': 'text/plain' })
    res.end(`endpoint :${port} says ${status}\n`)
  }).listen(port, '127.0.0.1', () => console.log(`endpoint on 127.0.0.1:${port} answering ${status}`))
}
