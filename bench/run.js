#!/usr/bin/env node
'use strict'
// `npm run bench`: Ferry against direct, nginx and node-http-proxy in one run, the way Istio
// measures Envoy (fortio when installed; wrk + hey otherwise). See bench/README.md.
//
//   node bench/run.js [--quick] [--duration 10] [--out DIR] [--qps 1000]
//                     [--connections 1,2,4,8,16,32,64] [--only ferry,nginx] [--nice -10] [--ferry DIR]
//
// Per proxy: a warm-up, a closed-loop throughput run, then the fixed-rate latency sweep; the
// proxy's CPU time and peak RSS are read from /proc around each run. Only one proxy runs at a
// time; the upstream stays up for the whole run.

const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const proc = require('./lib/proc')
const servers = require('./lib/servers')
const report = require('./lib/report')
const { detectTools, describeMachine, placement } = require('./lib/machine')
const { LoadGenerator } = require('./lib/loadgen')
const { startCollector } = require('./lib/collector')

const REPO = path.join(__dirname, '..')

function parseArgs (argv) {
  const opts = { quick: false, durationS: null, out: null, qps: 1000, connections: null, only: null, throughputConnections: 16, nice: 0, ferry: null }
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]
    const value = () => {
      if (i + 1 >= argv.length) throw new Error(`${a} needs a value`)
      return argv[++i]
    }
    switch (a) {
      case '--quick': opts.quick = true; break
      case '--duration': opts.durationS = Number(value()); break
      case '--out': opts.out = value(); break
      case '--qps': opts.qps = Number(value()); break
      case '--connections': opts.connections = value().split(',').map(Number); break
      case '--only': opts.only = value().split(','); break
      case '--nice': opts.nice = Number(value()); break
      case '--ferry': opts.ferry = path.resolve(value()); break
      case '--help': case '-h':
        console.log('usage: node bench/run.js [--quick] [--duration SECONDS] [--out DIR] [--qps N] [--connections 1,2,4] [--only direct,ferry,nginx,http-proxy,ferry-sidecar] [--nice -10] [--ferry DIR]')
        process.exit(0)
        break
      default: throw new Error(`unknown flag ${a}`)
    }
  }
  if (opts.durationS === null) opts.durationS = opts.quick ? 2 : 10
  if (opts.connections === null) opts.connections = opts.quick ? [1, 16, 64] : [1, 2, 4, 8, 16, 32, 64]
  if (!(opts.durationS > 0) || !(opts.qps > 0) || opts.connections.some(c => !(c >= 1))) throw new Error('--duration, --qps and --connections must be positive')
  opts.warmupS = opts.quick ? 1 : 5
  return opts
}

/** Which Ferry was measured: the commit, and whether src/ had uncommitted changes. */
function ferryBuild (dir) {
  const git = args => {
    try {
      return require('node:child_process').execFileSync('git', ['-C', REPO, ...args], { encoding: 'utf8' }).trim()
    } catch {
      return null
    }
  }
  const head = git(['rev-parse', '--short', 'HEAD'])
  if (dir !== null) return { dir, repoHead: head, note: '--ferry: a separate build; repoHead is this checkout\'s HEAD, not necessarily the build\'s' }
  const dirty = git(['status', '--porcelain', '--', 'src'])
  return { dir: REPO, commit: head, srcDirty: dirty === null ? null : dirty !== '' }
}

function today () {
  return new Date().toISOString().slice(0, 10)
}

/** The proxies this machine can run, in the order they are measured. `direct` always comes first. */
function plan (tools, notes) {
  const list = [
    { name: 'direct', start: ctx => servers.directTarget(ctx.upstream) },
    { name: 'ferry', start: ctx => servers.startFerryGateway({ ...ctx, cores: ctx.place.proxy }) }
  ]
  if (tools.nginx) list.push({ name: 'nginx', start: ctx => servers.startNginxProxy({ ...ctx, cores: ctx.place.proxy }) })
  else notes.push('nginx not installed: no nginx peer (apt-get install -y nginx)')
  if (tools.httpProxy) list.push({ name: 'http-proxy', start: ctx => servers.startHttpProxyPeer({ ...ctx, cores: ctx.place.proxy }) })
  else notes.push('node-http-proxy peer skipped: `http-proxy` does not resolve (Ferry does not depend on it; `npm i --no-save http-proxy` to include it)')
  list.push({ name: 'ferry-sidecar', start: ctx => servers.startFerrySidecars({ ...ctx, cores: ctx.place.proxy, coresHop2: ctx.place.proxyHop2 }) })
  return list
}

/** One load run with the proxy's CPU and RSS watched; adds cpuPer1000 and peakRssMB. */
async function measured (target, run, proxyCore) {
  const monitor = new proc.ResourceMonitor(target.groups, proxyCore)
  monitor.start()
  const result = await run()
  const res = monitor.stop()
  result.cpuSeconds = target.groups.length > 0 ? res.cpuSeconds : null
  result.cpuPer1000 = target.groups.length > 0 && result.requests > 0 ? (res.cpuSeconds / result.requests) * 1000 : null
  result.peakRssMB = target.groups.length > 0 ? res.peakRssMB : null
  result.rssByProcessMB = res.rssByGroup
  result.foreignLoadOnProxyCore = res.foreignLoad
  return result
}

async function benchTarget (target, lg, opts, proxyCore) {
  const send = { url: target.url, host: target.host }
  const pct = r => (r.foreignLoadOnProxyCore === null ? '' : `, other load on proxy core ${Math.round(r.foreignLoadOnProxyCore * 100)}%`)
  process.stdout.write(`  warm-up ${opts.warmupS}s ... `)
  await lg.throughput({ ...send, connections: opts.throughputConnections, durationS: opts.warmupS })
  const throughput = await measured(target, () => lg.throughput({ ...send, connections: opts.throughputConnections, durationS: opts.durationS }), proxyCore)
  console.log(`throughput ${Math.round(throughput.rps)} rps, p50 ${throughput.p50Ms.toFixed(2)} ms, p99 ${throughput.p99Ms.toFixed(2)} ms, errors ${throughput.errors}${pct(throughput)}`)
  const sweep = []
  for (const c of opts.connections) {
    const r = await measured(target, () => lg.fixedRate({ ...send, connections: c, durationS: opts.durationS, qps: opts.qps }), proxyCore)
    r.connections = c
    sweep.push(r)
    console.log(`  ${opts.qps} rps, c=${String(c).padStart(2)}: ${Math.round(r.rps)} rps, p50 ${r.p50Ms.toFixed(2)} p90 ${r.p90Ms.toFixed(2)} p99 ${r.p99Ms.toFixed(2)} ms, errors ${r.errors}${pct(r)}`)
  }
  const peaks = [throughput, ...sweep].map(r => r.peakRssMB).filter(v => v !== null)
  // The lifetime high-water mark also holds start-up and warm-up (V8 compiling undici's llhttp
  // WebAssembly at the first requests takes ~35 MB for a moment), which the sampled peak skips.
  const hwm = target.groups.map(g => proc.processTree(g.rootPid).reduce((sum, pid) => sum + proc.hwmMB(pid), 0))
  return { name: target.name, label: target.label, throughput, sweep, peakRssMB: peaks.length > 0 ? Math.max(...peaks) : null, hwmMB: hwm.length > 0 ? Math.max(...hwm) : null }
}

/** Latency added over direct at the same connection count. */
function addDeltas (targets) {
  const direct = targets.find(t => t.name === 'direct')
  if (!direct) return
  for (const t of targets) {
    for (const p of t.sweep) {
      const d = direct.sweep.find(x => x.connections === p.connections)
      p.addedP50Ms = d ? p.p50Ms - d.p50Ms : null
      p.addedP90Ms = d ? p.p90Ms - d.p90Ms : null
      p.addedP99Ms = d ? p.p99Ms - d.p99Ms : null
    }
  }
}

async function main () {
  const opts = parseArgs(process.argv.slice(2))
  const machine = describeMachine()
  const tools = detectTools()
  const place = placement(machine.nproc)
  const notes = []
  const loadBefore = os.loadavg()
  if (opts.nice !== 0) {
    proc.setNice(opts.nice)
    notes.push(`every process the benchmark started ran at nice ${opts.nice} (--nice), ahead of other work on the machine`)
  }

  if (opts.ferry !== null) servers.setFerryDir(opts.ferry)
  else if (!fs.existsSync(path.join(REPO, 'dist', 'cli', 'main.js'))) {
    throw new Error('dist/ is missing: run `npx tsc -p .` (or `npm ci`, which builds it) first')
  }
  if (!tools.fortio) {
    const sweep = tools.h2load
      ? 'h2load the fixed-rate sweep (connections opened 1/qps apart so their requests interleave, as fortio -jitter does; per-request times in µs)'
      : tools.hey
        ? 'hey the fixed-rate sweep (h2load is not installed: hey reports latency at 0.1 ms resolution and starts its workers in lockstep, so high connection counts arrive in bursts)'
        : 'autocannon via npx the fixed-rate sweep (apt-get install -y nghttp2-client for h2load)'
    notes.push(`fortio not on PATH: ${tools.wrk ? 'wrk' : tools.hey ? 'hey' : 'autocannon via npx'} drives throughput, ${sweep}`)
  }
  if (!tools.taskset) notes.push('taskset not found: nothing is pinned to a core')
  notes.push(`placement: ${place.note}`)
  if (loadBefore[0] > machine.nproc * 0.25) {
    notes.push(`the machine was busy when the run started (load average ${loadBefore.map(v => v.toFixed(2)).join(' ')} on ${machine.nproc} cores): numbers are pessimistic; see "other load on proxy core" per run`)
  }
  notes.push('Ferry runs in gateway role with its default of one worker; a --concurrency curve needs more cores than this machine has (docs/concurrency.md)')
  for (const n of notes) console.log(`note: ${n}`)

  const lg = new LoadGenerator(tools, place.loadgen)
  const dir = servers.tempDir()
  const collector = await startCollector()
  const upstream = await servers.startUpstream({ tools, cores: place.upstream, dir })
  console.log(`upstream: ${upstream.kind} on 127.0.0.1:${upstream.port}; logs in ${dir}`)

  const ctx = { dir, upstream, collector, place }
  const results = []
  try {
    for (const step of plan(tools, notes)) {
      if (opts.only && !opts.only.includes(step.name) && step.name !== 'direct') continue
      const target = await step.start(ctx)
      console.log(`${target.label}: ${target.url}${target.host ? ` (Host: ${target.host})` : ''}`)
      try {
        results.push(await benchTarget(target, lg, opts, place.proxy === null ? null : Number(place.proxy)))
      } finally {
        await target.stop()
      }
    }
  } finally {
    await proc.stopProcess(upstream.child)
    await collector.close()
  }
  addDeltas(results)

  const out = {
    date: today(),
    machine,
    tools,
    placement: place,
    upstream: upstream.kind,
    settings: {
      quick: opts.quick,
      durationS: opts.durationS,
      warmupS: opts.warmupS,
      qps: opts.qps,
      connections: opts.connections,
      throughputConnections: opts.throughputConnections,
      nice: opts.nice,
      throughputTool: lg.throughputTool,
      fixedRateTool: lg.fixedRateTool,
      ferry: 'gateway role, stats on, tracing 1% to a local Zipkin collector, access log off (Istio default)'
    },
    ferry: ferryBuild(opts.ferry),
    notes,
    loadAverage: { before: loadBefore, after: os.loadavg() },
    tracing: { zipkinBatches: collector.state.batches, zipkinBytes: collector.state.bytes },
    targets: results
  }
  out.headline = report.headline(out)

  const base = opts.quick ? path.join(__dirname, 'results', 'tmp') : path.join(__dirname, 'results')
  const outDir = opts.out ? path.resolve(opts.out) : path.join(base, `${today()}-${machine.hostname}${opts.quick ? '-quick' : ''}`)
  fs.mkdirSync(outDir, { recursive: true })
  fs.writeFileSync(path.join(outDir, 'results.json'), JSON.stringify(out, null, 2) + '\n')
  fs.writeFileSync(path.join(outDir, 'results.md'), report.markdown(out))
  fs.writeFileSync(path.join(outDir, 'chart.svg'), report.svgChart(out))
  fs.rmSync(dir, { recursive: true, force: true })
  console.log(`\n${report.targetsSection(out)}`)
  console.log(`wrote ${path.relative(process.cwd(), outDir)}/{results.json,results.md,chart.svg}`)
}

for (const sig of ['SIGINT', 'SIGTERM']) {
  process.on(sig, () => {
    proc.killAll()
    process.exit(130)
  })
}

main().catch(err => {
  console.error(`bench: ${err.message}`)
  proc.killAll()
  process.exitCode = 1
})
