'use strict'
// Load generators. Each run returns one shape:
//   { tool, requests, durationS, rps, errors, p50Ms, p90Ms, p99Ms }
// where `errors` counts failed requests (connection errors and non-2xx answers).
//
// Preference follows Istio's perf tooling: fortio when on PATH (closed loop at -qps 0 for
// throughput, fixed -qps with -jitter for the latency sweep), else wrk for throughput and h2load
// (hey without it) for fixed-rate latency, else autocannon through npx as the last resort.

const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { runToCompletion } = require('./proc')

// ------------------------------------------------------------------ parsers (pure, unit-testable)

/**
 * fortio `load -json -` output. DurationHistogram.Percentiles holds {Percentile, Value} with
 * Value in seconds; RetCodes maps status code to count; ActualQPS is the achieved rate.
 */
function parseFortioJson (text) {
  // fortio writes its report to stderr and only the JSON to stdout; trim defensively anyway.
  const data = JSON.parse(text.slice(text.indexOf('{'), text.lastIndexOf('}') + 1))
  const h = data.DurationHistogram
  const pct = q => {
    const p = (h.Percentiles || []).find(x => Number(x.Percentile) === q)
    return p ? p.Value * 1000 : NaN
  }
  const codes = data.RetCodes || {}
  let ok = 0
  for (const [code, n] of Object.entries(codes)) if (code >= 200 && code < 300) ok += Number(n)
  const requests = Number(h.Count)
  return {
    tool: 'fortio',
    requests,
    durationS: Number(data.ActualDuration) / 1e9,
    rps: Number(data.ActualQPS),
    errors: requests - ok,
    p50Ms: pct(50),
    p90Ms: pct(90),
    p99Ms: pct(99)
  }
}

/** wrk with bench/lib/wrk-report.lua: the WRK_JSON line. */
function parseWrkJson (text) {
  const line = text.split('\n').find(l => l.startsWith('WRK_JSON '))
  if (!line) throw new Error(`wrk printed no WRK_JSON line:\n${text.slice(-500)}`)
  const d = JSON.parse(line.slice('WRK_JSON '.length))
  const e = d.errors
  const durationS = d.duration_us / 1e6
  return {
    tool: 'wrk',
    requests: d.requests,
    durationS,
    rps: d.requests / durationS,
    errors: e.connect + e.read + e.write + e.status + e.timeout,
    p50Ms: d.latency_us.p50 / 1000,
    p90Ms: d.latency_us.p90 / 1000,
    p99Ms: d.latency_us.p99 / 1000
  }
}

/** Nearest-rank percentile of a sorted array. */
function percentile (sorted, q) {
  if (sorted.length === 0) return NaN
  const rank = Math.ceil((q / 100) * sorted.length)
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1]
}

/**
 * hey `-o csv`: one row per successful request, `response-time` (seconds, 4 decimals, so 0.1 ms
 * resolution) first and `status-code` seventh. Requests that failed at the connection level are
 * not in the CSV; hey does not report them in this mode.
 */
function parseHeyCsv (text, durationS) {
  const lats = []
  let non2xx = 0
  for (const line of text.split('\n')) {
    const c = line.charCodeAt(0)
    if (!(c >= 48 && c <= 57)) continue // header or blank
    const cols = line.split(',')
    lats.push(Number(cols[0]) * 1000)
    const status = Number(cols[6])
    if (status < 200 || status >= 300) non2xx++
  }
  lats.sort((a, b) => a - b)
  return {
    tool: 'hey',
    requests: lats.length,
    durationS,
    rps: lats.length / durationS,
    errors: non2xx,
    p50Ms: percentile(lats, 50),
    p90Ms: percentile(lats, 90),
    p99Ms: percentile(lats, 99)
  }
}

/**
 * h2load `--log-file`: one tab-separated line per finished request: start (µs since the epoch),
 * status code, microseconds until the end of the response. `stdout` gives the run's length
 * ("finished in 10.08s") and `sent` is how many requests were asked for, so requests that never
 * got an answer count as errors too.
 */
function parseH2load (logText, stdout, sent) {
  const lats = []
  let non2xx = 0
  for (const line of logText.split('\n')) {
    if (line === '') continue
    const cols = line.split('\t')
    const status = Number(cols[1])
    lats.push(Number(cols[2]) / 1000)
    if (!(status >= 200 && status < 300)) non2xx++
  }
  lats.sort((a, b) => a - b)
  const m = /finished in ([\d.]+)(us|ms|s)\b/.exec(stdout)
  if (!m) throw new Error(`h2load printed no "finished in" line:\n${stdout.slice(-500)}`)
  const durationS = Number(m[1]) / (m[2] === 's' ? 1 : m[2] === 'ms' ? 1e3 : 1e6)
  return {
    tool: 'h2load',
    requests: lats.length,
    durationS,
    rps: lats.length / durationS,
    errors: non2xx + Math.max(0, sent - lats.length),
    p50Ms: percentile(lats, 50),
    p90Ms: percentile(lats, 90),
    p99Ms: percentile(lats, 99)
  }
}

/** autocannon `-j`: latency percentiles in ms, requests.total, non2xx and errors. */
function parseAutocannonJson (text) {
  const d = JSON.parse(text.slice(text.indexOf('{')))
  const requests = d.requests.total
  return {
    tool: 'autocannon',
    requests,
    durationS: d.duration,
    rps: requests / d.duration,
    errors: (d.errors || 0) + (d.non2xx || 0) + (d.timeouts || 0),
    p50Ms: d.latency.p50,
    p90Ms: d.latency.p90,
    p99Ms: d.latency.p99
  }
}

// ------------------------------------------------------------------ runners

class LoadGenerator {
  /**
   * @param tools   detectTools() result
   * @param cores   cores the generator is pinned to (null: not pinned)
   */
  constructor (tools, cores) {
    this.tools = tools
    this.cores = cores
    this.throughputTool = tools.fortio ? 'fortio' : tools.wrk ? 'wrk' : tools.hey ? 'hey' : 'autocannon'
    this.fixedRateTool = tools.fortio ? 'fortio' : tools.h2load ? 'h2load' : tools.hey ? 'hey' : 'autocannon'
  }

  /** Closed loop, as fast as the target answers, over `connections` keep-alive connections. */
  async throughput ({ url, host, connections, durationS }) {
    switch (this.throughputTool) {
      case 'fortio': return this.fortio({ url, host, connections, durationS, qps: 0 })
      case 'wrk': {
        const args = ['-t1', `-c${connections}`, `-d${durationS}s`, '--latency', '-s', path.join(__dirname, 'wrk-report.lua')]
        if (host) args.push('-H', `Host: ${host}`)
        args.push(url)
        const { stdout } = await runToCompletion(this.cores, 'wrk', args)
        return parseWrkJson(stdout)
      }
      case 'hey': return this.hey({ url, host, connections, durationS, qps: 0 })
      default: return this.autocannon({ url, host, connections, durationS, qps: 0 })
    }
  }

  /** Open loop at `qps` in total over `connections` connections (the latency sweep). */
  async fixedRate ({ url, host, connections, durationS, qps }) {
    switch (this.fixedRateTool) {
      case 'fortio': return this.fortio({ url, host, connections, durationS, qps })
      case 'h2load': return this.h2load({ url, host, connections, durationS, qps })
      case 'hey': return this.hey({ url, host, connections, durationS, qps })
      default: return this.autocannon({ url, host, connections, durationS, qps })
    }
  }

  async fortio ({ url, host, connections, durationS, qps }) {
    // -r 0.00001: 10 µs histogram resolution, as Istio's perf runs use; -json -: JSON on stdout.
    // -jitter: at a fixed rate the connections drift apart instead of sending in lockstep, as
    // Istio's perf scripts run fortio (istio/tools perf/benchmark: `fortio load -jitter=True`).
    const args = ['load', '-qps', String(qps), '-c', String(connections), '-t', `${durationS}s`,
      '-r', '0.00001', '-p', '50,90,99', '-loglevel', 'Warning', '-json', '-']
    if (qps > 0) args.push('-jitter=true')
    if (host) args.push('-H', `Host: ${host}`)
    args.push(url)
    const { stdout } = await runToCompletion(this.cores, 'fortio', args)
    return parseFortioJson(stdout)
  }

  async h2load ({ url, host, connections, durationS, qps }) {
    // Each connection sends qps/connections per second (--rps), and the connections are opened
    // one every 1/qps seconds (-r, --rate-period), so their requests interleave evenly instead
    // of arriving in bursts; --log-file gives every request's time in microseconds.
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ferry-h2load-'))
    const logFile = path.join(dir, 'requests.tsv')
    const sent = Math.max(connections, Math.round(qps * durationS))
    const periodMs = Math.max(1, Math.round(1000 / qps))
    const perPeriod = Math.max(1, Math.round(qps / 1000))
    const args = ['--h1', '-n', String(sent), '-c', String(connections), '-r', String(perPeriod), '--rate-period', `${periodMs}ms`,
      '--rps', String(qps / connections), '--log-file', logFile]
    if (host) args.push('-H', `:authority: ${host}`)
    args.push(url)
    try {
      const { stdout } = await runToCompletion(this.cores, 'h2load', args)
      return parseH2load(fs.readFileSync(logFile, 'utf8'), stdout, sent)
    } finally {
      fs.rmSync(dir, { recursive: true, force: true })
    }
  }

  async hey ({ url, host, connections, durationS, qps }) {
    // hey's -q is per worker; each worker is one connection.
    const args = ['-z', `${durationS}s`, '-c', String(connections), '-o', 'csv', '-disable-compression']
    if (qps > 0) args.push('-q', (qps / connections).toFixed(3))
    if (host) args.push('-host', host)
    args.push(url)
    const { stdout } = await runToCompletion(this.cores, 'hey', args)
    return parseHeyCsv(stdout, durationS)
  }

  async autocannon ({ url, host, connections, durationS, qps }) {
    const args = ['--yes', 'autocannon', '-j', '-c', String(connections), '-d', String(durationS)]
    if (qps > 0) args.push('-R', String(qps))
    if (host) args.push('-H', `host=${host}`)
    args.push(url)
    const { stdout } = await runToCompletion(this.cores, 'npx', args)
    return parseAutocannonJson(stdout)
  }
}

module.exports = { LoadGenerator, parseFortioJson, parseWrkJson, parseH2load, parseHeyCsv, parseAutocannonJson, percentile }
