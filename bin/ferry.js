#!/usr/bin/env -S node --max-semi-space-size=4 --heap-growing-percent=20
'use strict'
// Entry point; the code is TypeScript compiled to dist/ by `npm ci` / `npm run build`.
//
// The Node flags on the first line are how Ferry is meant to run; docker/Dockerfile's ENTRYPOINT
// and the benchmark pass the same ones (a test keeps them equal). --max-semi-space-size=4 caps
// V8's young generation at 3 x 4 MB instead of 3 x 16 MB: a proxy's per-request garbage dies
// young whatever the size, so under load it costs about 1% CPU in scavenges and saves about
// 20 MB of RSS. --heap-growing-percent=20 lets the old generation grow 20% past what the last
// full GC kept before the next one, instead of V8's 1.1x to 4x: the request objects in flight at
// each scavenge are promoted and die there, and without it the heap grew from 20 to 30 MB over
// 15 s of load with no full GC (one 4 ms mark-compact per 10 s with it). bench/README.md, "Memory".
const { main } = require('../dist/cli/main.js')
main(process.argv.slice(2)).then(
  (code) => { process.exitCode = code },
  (err) => { process.stderr.write(`ferry: ${err && err.stack ? err.stack : err}\n`); process.exitCode = 1 }
)
