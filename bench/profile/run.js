'use strict'
// Profile Ferry under load: the benchmark's gateway (or sidecar pair) with `node --cpu-prof`,
// driven by the throughput load generator, then a self-time summary of the profile.
//   node bench/profile/run.js [--duration 20] [--scenario gateway|sidecar] [--out DIR] [--ferry DIR] [--nice N]
// Writes the .cpuprofile(s) to DIR (default bench/results/tmp/profile, not committed) and prints
// bench/profile/top.js's summary. Open a .cpuprofile in Chrome DevTools for the call tree.
const fs = require('node:fs')
const path = require('node:path')
const os = require('node:os')
const proc = require('../lib/proc')
const servers = require('../lib/servers')
const { detectTools, placement } = require('../lib/machine')
const { LoadGenerator } = require('../lib/loadgen')
const { startCollector } = require('../lib/collector')
const { summarise } = require('./top')

async function main () {
  const args = process.argv.slice(2)
  const opt = (name, dflt) => {
    const i = args.indexOf(name)
    return i >= 0 ? args[i + 1] : dflt
  }
  const durationS = Number(opt('--duration', '20'))
  const scenario = opt('--scenario', 'gateway')
  const outDir = path.resolve(opt('--out', path.join(__dirname, '..', 'results', 'tmp', 'profile')))
  fs.mkdirSync(outDir, { recursive: true })
  for (const f of fs.readdirSync(outDir)) if (f.endsWith('.cpuprofile')) fs.rmSync(path.join(outDir, f))

  if (opt('--ferry', null) !== null) servers.setFerryDir(path.resolve(opt('--ferry')))
  if (opt('--nice', null) !== null) proc.setNice(Number(opt('--nice')))
  const tools = detectTools()
  const place = placement(os.availableParallelism())
  const dir = servers.tempDir()
  const collector = await startCollector()
  const upstream = await servers.startUpstream({ tools, cores: place.upstream, dir })
  const nodeArgs = ['--cpu-prof', `--cpu-prof-dir=${outDir}`]
  const ctx = { dir, upstream, collector, cores: place.proxy, coresHop2: place.proxyHop2, nodeArgs }
  const target = scenario === 'sidecar' ? await servers.startFerrySidecars(ctx) : await servers.startFerryGateway(ctx)
  const lg = new LoadGenerator(tools, place.loadgen)
  try {
    const r = await lg.throughput({ url: target.url, host: target.host, connections: 16, durationS })
    console.log(`${target.label}: ${Math.round(r.rps)} rps over ${durationS}s (${r.tool}), p50 ${r.p50Ms.toFixed(2)} ms, p99 ${r.p99Ms.toFixed(2)} ms, errors ${r.errors}`)
  } finally {
    // Ferry exits normally on SIGTERM, which is when node writes the profile.
    await target.stop()
    await proc.stopProcess(upstream.child)
    await collector.close()
    fs.rmSync(dir, { recursive: true, force: true })
  }
  for (const f of fs.readdirSync(outDir).filter(f => f.endsWith('.cpuprofile'))) {
    console.log(`\n=== ${path.join(outDir, f)}`)
    console.log(summarise(JSON.parse(fs.readFileSync(path.join(outDir, f), 'utf8')), 30))
  }
}

main().catch(err => {
  console.error(`profile: ${err.message}`)
  proc.killAll()
  process.exitCode = 1
})
