'use strict'
// A do-nothing Zipkin collector inside the benchmark process, so Ferry's tracing (1% sampling)
// does its full work, span building and export, without a real Zipkin.
const http = require('node:http')

function startCollector () {
  const state = { batches: 0, bytes: 0 }
  const server = http.createServer((req, res) => {
    req.on('data', c => { state.bytes += c.length })
    req.on('end', () => {
      state.batches++
      res.writeHead(202)
      res.end()
    })
  })
  return new Promise(resolve => {
    server.listen(0, '127.0.0.1', () => {
      resolve({
        url: `http://127.0.0.1:${server.address().port}/api/v2/spans`,
        state,
        close: () => new Promise(r => { server.close(() => r()); server.closeAllConnections() })
      })
    })
  })
}

module.exports = { startCollector }
