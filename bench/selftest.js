'use strict'
// Checks the benchmark's own plumbing without load: the output parsers of fortio, wrk, h2load,
// hey and autocannon, and the fortio and h2load paths end to end through stand-ins on PATH
// (fortio is not installable on every machine, so its path would otherwise go unexercised).
//   node bench/selftest.js
const assert = require('node:assert/strict')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { LoadGenerator, parseFortioJson, parseWrkJson, parseH2load, parseHeyCsv, parseAutocannonJson } = require('./lib/loadgen')

// The fields fortio's `load -json -` writes that the benchmark reads (periodic.RunnerResults +
// fhttp.HTTPRunnerResults); Values are seconds, ActualDuration nanoseconds, RetCodes keyed by code.
const FORTIO_JSON = {
  RunType: 'HTTP',
  RequestedQPS: '1000',
  ActualQPS: 999.5,
  ActualDuration: 10_000_500_000,
  NumThreads: 16,
  DurationHistogram: {
    Count: 9995,
    Min: 0.000181,
    Max: 0.0123,
    Avg: 0.00041,
    Percentiles: [{ Percentile: 50, Value: 0.000352 }, { Percentile: 90, Value: 0.000521 }, { Percentile: 99, Value: 0.00181 }]
  },
  RetCodes: { 200: 9990, 503: 5 },
  Sizes: { Count: 9995, Avg: 1161 }
}

function parsers () {
  const f = parseFortioJson(JSON.stringify(FORTIO_JSON, null, 2) + '\n')
  assert.equal(f.requests, 9995)
  assert.equal(f.errors, 5)
  assert.equal(f.rps, 999.5)
  assert.ok(Math.abs(f.p50Ms - 0.352) < 1e-9 && Math.abs(f.p99Ms - 1.81) < 1e-9)
  assert.ok(Math.abs(f.durationS - 10.0005) < 1e-9)

  const w = parseWrkJson('Running 10s test\nWRK_JSON {"requests":1000,"duration_us":2000000,"bytes":1,"errors":{"connect":0,"read":1,"write":0,"status":2,"timeout":0},"latency_us":{"p50":310,"p90":420,"p99":1900,"mean":350.0,"max":5000}}\n')
  assert.deepEqual([w.rps, w.errors, w.p50Ms, w.p99Ms], [500, 3, 0.31, 1.9])

  const csv = 'response-time,DNS+dialup,DNS,Request-write,Response-delay,Response-read,status-code,offset\n' +
    Array.from({ length: 100 }, (_, i) => `${((i + 1) / 10000).toFixed(4)},0.0000,0.0000,0.0000,0.0001,0.0000,${i === 0 ? 503 : 200},0.0${i}`).join('\n') + '\n'
  const h = parseHeyCsv(csv, 2)
  assert.deepEqual([h.requests, h.rps, h.errors], [100, 50, 1])
  assert.ok(Math.abs(h.p50Ms - 5) < 1e-9 && Math.abs(h.p99Ms - 9.9) < 1e-9)

  // h2load --log-file: start µs, status, duration µs; 100 lines, one 503, two requests unanswered.
  const tsv = Array.from({ length: 100 }, (_, i) => `${1795327197085153 + i * 1000}\t${i === 0 ? 503 : 200}\t${(i + 1) * 10}`).join('\n') + '\n'
  const h2 = parseH2load(tsv, 'progress: 100% done\n\nfinished in 2.00s, 50.00 req/s, 56.25KB/s\nrequests: 102 total\n', 102)
  assert.deepEqual([h2.requests, h2.rps, h2.errors], [100, 50, 3])
  assert.ok(Math.abs(h2.p50Ms - 0.5) < 1e-9 && Math.abs(h2.p99Ms - 0.99) < 1e-9)
  assert.equal(parseH2load('', 'finished in 640.23ms, 999.64 req/s', 0).durationS, 0.64023)
  assert.throws(() => parseH2load('', 'connect failed', 1), /finished in/)

  const a = parseAutocannonJson(JSON.stringify({ duration: 10, requests: { total: 5000 }, latency: { p50: 1, p90: 2, p99: 3 }, errors: 1, non2xx: 2, timeouts: 0 }))
  assert.deepEqual([a.rps, a.errors, a.p99Ms], [500, 3, 3])
}

/**
 * Puts an executable `name` on PATH for the length of `use(bin, argvFile)`. Its body (`script`,
 * JavaScript run by this node) sees `argv` and first records it in `argvFile` as JSON.
 */
async function withStandIn (name, script, use) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ferry-bench-selftest-'))
  const argvFile = path.join(dir, 'argv.json')
  const bin = path.join(dir, name)
  fs.writeFileSync(bin, `#!${process.execPath}
const argv = process.argv.slice(2)
require('fs').writeFileSync(${JSON.stringify(argvFile)}, JSON.stringify(argv))
${script}`)
  fs.chmodSync(bin, 0o755)
  const oldPath = process.env.PATH
  process.env.PATH = `${dir}:${oldPath}`
  try {
    await use(bin, argvFile)
  } finally {
    process.env.PATH = oldPath
    fs.rmSync(dir, { recursive: true, force: true })
  }
}

/** A stand-in fortio that prints FORTIO_JSON on stdout, chatter on stderr. */
function fortioPath () {
  return withStandIn('fortio', `
process.stderr.write('Fortio 1.60.3 running at 1000 queries per second\\nAll done 9995 calls\\n')
process.stdout.write(${JSON.stringify(JSON.stringify(FORTIO_JSON, null, 2))} + '\\n')
`, async (bin, argvFile) => {
    const lg = new LoadGenerator({ fortio: { path: bin } }, null)
    assert.equal(lg.throughputTool, 'fortio')
    assert.equal(lg.fixedRateTool, 'fortio')
    const r = await lg.fixedRate({ url: 'http://127.0.0.1:1/echo?size=1024', host: 'svc:9080', connections: 8, durationS: 3, qps: 1000 })
    assert.equal(r.tool, 'fortio')
    assert.equal(r.requests, 9995)
    const argv = JSON.parse(fs.readFileSync(argvFile, 'utf8'))
    const flag = name => argv[argv.indexOf(name) + 1]
    assert.equal(argv[0], 'load')
    assert.equal(flag('-qps'), '1000')
    assert.equal(flag('-c'), '8')
    assert.equal(flag('-t'), '3s')
    assert.equal(flag('-r'), '0.00001')
    assert.equal(flag('-json'), '-')
    assert.equal(flag('-H'), 'Host: svc:9080')
    assert.ok(argv.includes('-jitter=true'), 'a fixed-rate run de-synchronises the connections, as Istio runs fortio')
    assert.equal(argv[argv.length - 1], 'http://127.0.0.1:1/echo?size=1024')
    await lg.throughput({ url: 'http://127.0.0.1:1/', host: null, connections: 16, durationS: 3 })
    const closed = JSON.parse(fs.readFileSync(argvFile, 'utf8'))
    assert.equal(closed[2], '0') // -qps 0: as fast as possible
    assert.ok(!closed.includes('-jitter=true'))
  })
}

/** A stand-in h2load that writes a --log-file and prints h2load's summary. */
function h2loadPath () {
  return withStandIn('h2load', `
const n = Number(argv[argv.indexOf('-n') + 1])
const lines = []
for (let i = 0; i < n; i++) lines.push(\`\${1795327197085153 + i}\\t200\\t\${300 + (i % 100)}\`)
require('fs').writeFileSync(argv[argv.indexOf('--log-file') + 1], lines.join('\\n') + '\\n')
process.stdout.write('finished in 3.00s, 1000.00 req/s, 1.12MB/s\\nrequests: ' + n + ' total\\n')
`, async (bin, argvFile) => {
    const lg = new LoadGenerator({ h2load: { path: bin }, wrk: { path: '/nonexistent' } }, null)
    assert.equal(lg.fixedRateTool, 'h2load')
    const r = await lg.fixedRate({ url: 'http://127.0.0.1:1/', host: 'svc:9080', connections: 16, durationS: 3, qps: 1000 })
    assert.deepEqual([r.tool, r.requests, r.errors, r.rps], ['h2load', 3000, 0, 1000])
    assert.ok(Math.abs(r.p50Ms - 0.349) < 1e-9, String(r.p50Ms))
    const argv = JSON.parse(fs.readFileSync(argvFile, 'utf8'))
    const flag = name => argv[argv.indexOf(name) + 1]
    assert.equal(argv[0], '--h1')
    assert.equal(flag('-n'), '3000')
    assert.equal(flag('-c'), '16')
    assert.equal(flag('--rps'), '62.5')
    // One connection opened every 1/qps seconds: their requests interleave, 1 ms apart.
    assert.equal(flag('-r'), '1')
    assert.equal(flag('--rate-period'), '1ms')
    assert.equal(flag('-H'), ':authority: svc:9080')
    assert.equal(argv[argv.length - 1], 'http://127.0.0.1:1/')
    assert.ok(!fs.existsSync(flag('--log-file')), 'the log file is removed')
  })
}

async function main () {
  parsers()
  await fortioPath()
  await h2loadPath()
  console.log('bench selftest: ok')
}

main().catch(err => {
  console.error(err)
  process.exitCode = 1
})
