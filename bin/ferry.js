#!/usr/bin/env node
'use strict'
// Entry point; the code is TypeScript compiled to dist/ by `npm ci` / `npm run build`.
const { main } = require('../dist/cli/main.js')
main(process.argv.slice(2)).then(
  (code) => { process.exitCode = code },
  (err) => { process.stderr.write(`ferry: ${err && err.stack ? err.stack : err}\n`); process.exitCode = 1 }
)
