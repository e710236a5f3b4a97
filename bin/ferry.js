#!/usr/bin/env -S node --max-semi-space-size=4
'use strict'
// Entry point; the code is TypeScript compiled to dist/ by `npm ci` / `npm run build`.
//
// The Node flags on the first line are how Ferry is meant to run; docker/Dockerfile's ENTRYPOINT
// and the benchmark pass the same ones (a test keeps them equal). --max-semi-space-size=4 caps
// V8's young generation at 3 x 4 MB instead of 3 x 16 MB: a proxy's per-request garbage dies
// young whatever the size, so under load it costs about 1% CPU in scavenges and saves about
// 20 MB of RSS (bench/README.md, "Memory").
const { main } = require('../dist/cli/main.js')
main(process.argv.slice(2)).then(
  (code) => { process.exitCode = code },
  (err) => { process.stderr.write(`ferry: ${err && err.stack ? err.stack : err}\n`); process.exitCode = 1 }
)
