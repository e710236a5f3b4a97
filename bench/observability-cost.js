#!/usr/bin/env node
'use strict'
// What tracing costs on the request path: Ferry in gateway role at --sampling 0, 1 (Istio's
// default) and 100, each driven to saturation with wrk (16 connections), reporting requests/s
// and proxy CPU-seconds per 1000 requests. Same placement as bench/run.js: Ferry alone on the
// last core; nginx (or the Node upstream) and wrk on the others. Stats are always on: Ferry has
// no switch to turn them off (their per-request cost is a few counter increments; see
// bench/micro/stats.bench.js).
//
//   node bench/observability-cost.js [--duration 8] [--runs 3]

const { detectTools, placement } = require('./lib/machine')
const servers = require('./lib/servers')
const proc = require('./lib/proc')
const { LoadGenerator } = require('./lib/loadgen')
const { startCollector } = require('./lib/collector')

function arg (name, dflt) {
  const i = process.argv.indexOf(`--${name}`)
  return i > 0 ? Number(process.argv[i + 1]) : dflt
}

async function main () {
  const durationS = arg('duration', 8)
  const runs = arg('runs', 3)
  const tools = detectTools()
  const cores = placement(require('node:os').availableParallelism())
  const dir = servers.tempDir()
  const collector = await startCollector()
  const upstream = await servers.startUpstream({ tools, cores: cores.upstream, dir })
  const load = new LoadGenerator(tools, cores.loadgen)
  const rows = []
  try {
    for (const sampling of ['0', '1', '100']) {
      const ferry = await servers.startFerryGateway({ cores: cores.proxy, dir, upstream, collector, extraArgs: ['--sampling', sampling], name: `ferry-sampling-${sampling}` })
      try {
        await load.throughput({ url: ferry.url, host: null, connections: 16, durationS: 2 }) // warm-up
        const results = []
        for (let r = 0; r < runs; r++) {
          const pids = proc.processTree(ferry.groups[0].rootPid)
          const cpu0 = proc.cpuSeconds(pids)
          const res = await load.throughput({ url: ferry.url, host: null, connections: 16, durationS })
          const cpu = proc.cpuSeconds(pids) - cpu0
          results.push({ rps: res.rps, cpuPer1000: cpu / (res.rps * durationS / 1000) })
        }
        results.sort((a, b) => a.rps - b.rps)
        const median = results[Math.floor(results.length / 2)]
        rows.push({ sampling, rps: median.rps, cpuPer1000: median.cpuPer1000, runs: results.map(r => Math.round(r.rps)) })
        process.stdout.write(`sampling ${sampling}%: ${Math.round(median.rps)} rps (runs ${results.map(r => Math.round(r.rps)).join(', ')}), ${median.cpuPer1000.toFixed(3)} CPU-s per 1000 requests\n`)
      } finally {
        await ferry.stop()
      }
    }
  } finally {
    await collector.close()
    proc.killAll()
  }
  process.stdout.write('\n| --sampling | requests/s (median) | CPU-s per 1000 requests |\n|---:|---:|---:|\n')
  for (const r of rows) process.stdout.write(`| ${r.sampling}% | ${Math.round(r.rps)} | ${r.cpuPer1000.toFixed(3)} |\n`)
  process.stdout.write(`\nspans batches received by the collector: ${collector.state.batches}\n`)
}

main().catch(err => { console.error(err); proc.killAll(); process.exit(1) })
