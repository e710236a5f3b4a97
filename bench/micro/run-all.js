'use strict'
// Runs every bench/micro/*.bench.js in its own process (so one benchmark's JIT state and heap
// do not colour the next) and prints their output in order.
//   npx tsc -p . && node bench/micro/run-all.js [name-filter]
const { spawnSync } = require('node:child_process')
const fs = require('node:fs')
const path = require('node:path')

const filter = process.argv[2] || ''
const files = fs.readdirSync(__dirname).filter(f => f.endsWith('.bench.js') && f.includes(filter)).sort()
let failed = 0
for (const file of files) {
  console.log(`\n=== ${file}`)
  const r = spawnSync(process.execPath, [path.join(__dirname, file)], { stdio: 'inherit' })
  if (r.status !== 0) {
    failed++
    console.log(`!!! ${file} exited ${r.status}`)
  }
}
process.exitCode = failed === 0 ? 0 : 1
