#!/usr/bin/env node
// Demo upstream on 127.0.0.1:8001: `/delay/<seconds>` answers after that many seconds
// (like httpbin's /delay); anything else answers at once. Plain Node, no dependencies.
'use strict'
const http = require('node:http')
const port = Number(process.env.PORT || 8001)
http.createServer((req, res) => {
  const m = /^\/(?:per-try\/)?delay\/(\d+(?:\.\d+)?)/.exec(req.url)
  const ms = m ? Number(m[1]) * 1000 : 0
  const attempt = req.headers['x-envoy-attempt-count']
  console.log(`${new Date().toISOString()} ${req.method} ${req.url} attempt=${attempt} (answering in ${ms} ms)`)
  const timer = setTimeout(() => res.end(`answered after ${ms} ms\n`), ms)
  res.on('close', () => clearTimeout(timer))
}).listen(port, '127.0.0.1', () => console.log(`upstream on 127.0.0.1:${port}`))
