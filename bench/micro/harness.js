'use strict'
// The timing loop shared by bench/micro/*.bench.js: warm up (so V8 has optimised the function),
// then time a fixed number of calls and print ns per call. `fn` returns a value that is folded
// into a sink, so the call cannot be optimised away.

const path = require('node:path')

const DIST = path.join(__dirname, '..', '..', 'dist')

/** require() of a compiled module, with a hint when `npx tsc -p .` has not been run. */
function dist (rel) {
  try {
    return require(path.join(DIST, rel))
  } catch (err) {
    if (err.code === 'MODULE_NOT_FOUND') throw new Error(`dist/${rel} not found: run \`npx tsc -p .\` first`)
    throw err
  }
}

let sink = 0

function bench (name, fn, { iterations = 1_000_000, warmup = 100_000 } = {}) {
  for (let i = 0; i < warmup; i++) sink ^= fold(fn(i))
  const start = process.hrtime.bigint()
  for (let i = 0; i < iterations; i++) sink ^= fold(fn(i))
  const ns = Number(process.hrtime.bigint() - start) / iterations
  console.log(`${name.padEnd(66)} ${ns.toFixed(1).padStart(8)} ns/op`)
  return ns
}

function fold (v) {
  if (typeof v === 'number') return v | 0
  return v ? 1 : 0
}

function header (title) {
  console.log(`\n-- ${title}`)
}

process.on('exit', () => {
  if (sink === 0.5) console.log(sink) // never true; keeps sink observable
})

module.exports = { dist, bench, header }
