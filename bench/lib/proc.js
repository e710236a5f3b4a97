'use strict'
// Child processes for the benchmark: start one pinned to a core, wait until it answers, read its
// CPU time and memory from /proc, stop it. Every child started here is remembered so that an
// error or Ctrl-C never leaves an upstream or a proxy running.

const { spawn, execFileSync } = require('node:child_process')
const fs = require('node:fs')
const http = require('node:http')
const net = require('node:net')

const children = new Set()

/** Clock ticks per second, the unit of utime/stime in /proc/<pid>/stat. */
const CLK_TCK = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100
  } catch {
    return 100
  }
})()

/** Whether an executable is on PATH. */
function which (cmd) {
  for (const dir of (process.env.PATH || '').split(':')) {
    if (dir === '') continue
    try {
      fs.accessSync(`${dir}/${cmd}`, fs.constants.X_OK)
      return `${dir}/${cmd}`
    } catch {}
  }
  return null
}

const HAVE_TASKSET = which('taskset') !== null

/**
 * Scheduling priority for everything the benchmark starts (`--nice`, default 0). On a machine
 * shared with other work a negative value keeps that work from taking the proxy's core; the
 * residual shows up as "other load" in the results.
 */
let niceLevel = 0

function setNice (n) {
  niceLevel = n
}

/** argv prefixed with `taskset -c <cores>` (and `nice -n N`) where that applies. */
function pinned (cores, cmd, args) {
  // nice and taskset both exec the command, so the child's pid is the process itself.
  let argv = [cmd, args]
  if (cores !== null && HAVE_TASKSET) argv = ['taskset', ['-c', String(cores), argv[0], ...argv[1]]]
  if (niceLevel !== 0) argv = ['nice', ['-n', String(niceLevel), argv[0], ...argv[1]]]
  return argv
}

/**
 * Starts a long-running process (upstream or proxy). stdout/stderr go to `logFile` so a failure
 * can be diagnosed without flooding the benchmark's own output.
 */
function startProcess (name, cores, cmd, args, { logFile, env } = {}) {
  const [file, argv] = pinned(cores, cmd, args)
  const out = logFile ? fs.openSync(logFile, 'a') : 'ignore'
  const child = spawn(file, argv, { stdio: ['ignore', out, out], env: env ? { ...process.env, ...env } : process.env })
  if (typeof out === 'number') fs.closeSync(out)
  child.benchName = name
  child.logFile = logFile
  children.add(child)
  child.once('exit', () => children.delete(child))
  return child
}

/** Runs a load generator to completion and returns its stdout (stderr kept for errors). */
function runToCompletion (cores, cmd, args, { timeoutMs = 600_000 } = {}) {
  const [file, argv] = pinned(cores, cmd, args)
  return new Promise((resolve, reject) => {
    const child = spawn(file, argv, { stdio: ['ignore', 'pipe', 'pipe'] })
    children.add(child)
    const out = []
    const err = []
    child.stdout.on('data', c => out.push(c))
    child.stderr.on('data', c => err.push(c))
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs)
    child.once('error', reject)
    child.once('close', code => {
      clearTimeout(timer)
      children.delete(child)
      const stdout = Buffer.concat(out).toString()
      const stderr = Buffer.concat(err).toString()
      if (code !== 0 && stdout === '') reject(new Error(`${cmd} exited ${code}: ${stderr.slice(-500)}`))
      else resolve({ stdout, stderr, code })
    })
  })
}

function stopProcess (child, graceMs = 5000) {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve()
  return new Promise(resolve => {
    const timer = setTimeout(() => child.kill('SIGKILL'), graceMs)
    child.once('exit', () => {
      clearTimeout(timer)
      resolve()
    })
    child.kill('SIGTERM')
  })
}

function killAll () {
  for (const child of children) {
    try { child.kill('SIGKILL') } catch {}
  }
}

/** A free TCP port on 127.0.0.1 (closed again before returning; small race accepted). */
function freePort () {
  return new Promise((resolve, reject) => {
    const s = net.createServer()
    s.once('error', reject)
    s.listen(0, '127.0.0.1', () => {
      const port = s.address().port
      s.close(() => resolve(port))
    })
  })
}

function httpGet (port, path, headers = {}) {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path, headers, agent: false, timeout: 2000 }, res => {
      const chunks = []
      res.on('data', c => chunks.push(c))
      res.on('end', () => resolve({ status: res.statusCode, body: Buffer.concat(chunks).toString() }))
    })
    req.once('timeout', () => req.destroy(new Error('timeout')))
    req.once('error', reject)
  })
}

/** Polls until GET path answers `status` (a process that exits first fails fast). */
async function waitForHttp (child, port, path = '/', { status = 200, headers = {}, timeoutMs = 20_000 } = {}) {
  const deadline = Date.now() + timeoutMs
  let last = ''
  while (Date.now() < deadline) {
    if (child && child.exitCode !== null) {
      throw new Error(`${child.benchName} exited (${child.exitCode}) before it was ready; log: ${child.logFile}`)
    }
    try {
      const r = await httpGet(port, path, headers)
      if (r.status === status) return r
      last = `status ${r.status}`
    } catch (err) {
      last = err.message
    }
    await sleep(100)
  }
  throw new Error(`${child ? child.benchName : 'server'} on port ${port} not ready after ${timeoutMs} ms (${last})`)
}

function sleep (ms) {
  return new Promise(resolve => setTimeout(resolve, ms))
}

/** pid and every descendant (nginx: master + worker). */
function processTree (pid) {
  const byParent = new Map()
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue
    const stat = readStat(Number(entry))
    if (stat === null) continue
    const list = byParent.get(stat.ppid) || []
    list.push(Number(entry))
    byParent.set(stat.ppid, list)
  }
  const out = [pid]
  for (let i = 0; i < out.length; i++) out.push(...(byParent.get(out[i]) || []))
  return out
}

function readStat (pid) {
  let text
  try {
    text = fs.readFileSync(`/proc/${pid}/stat`, 'utf8')
  } catch {
    return null
  }
  // The command name (field 2) may contain spaces; fields after the last ')' are fixed.
  const rest = text.slice(text.lastIndexOf(')') + 2).split(' ')
  return { ppid: Number(rest[1]), utime: Number(rest[11]), stime: Number(rest[12]) }
}

/** utime + stime in seconds, summed over a set of pids. */
function cpuSeconds (pids) {
  let ticks = 0
  for (const pid of pids) {
    const s = readStat(pid)
    if (s !== null) ticks += s.utime + s.stime
  }
  return ticks / CLK_TCK
}

/** A `/proc/PID/status` size field (VmRSS, VmHWM) in MB (0 when the process is gone). */
function statusMB (pid, field) {
  try {
    const m = new RegExp(`${field}:\\s+(\\d+) kB`).exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))
    return m ? Number(m[1]) / 1024 : 0
  } catch {
    return 0
  }
}

/** VmRSS in MB of one pid (0 when gone). */
const rssMB = pid => statusMB(pid, 'VmRSS')

/** VmHWM in MB of one pid: the largest RSS it ever had, start-up and warm-up included. */
const hwmMB = pid => statusMB(pid, 'VmHWM')

/**
 * Busy time of one core in seconds (user+nice+system+irq+softirq+steal from /proc/stat), or null
 * when the core is unknown. Compared with the proxy's own CPU time this shows how much of the
 * proxy's core something else took during a run (other jobs on a shared machine).
 */
function coreBusySeconds (core) {
  if (core === null || core === undefined) return null
  try {
    const line = fs.readFileSync('/proc/stat', 'utf8').split('\n').find(l => l.startsWith(`cpu${core} `))
    if (!line) return null
    const f = line.trim().split(/\s+/).slice(1).map(Number)
    return (f[0] + f[1] + f[2] + f[5] + f[6] + f[7]) / CLK_TCK
  } catch {
    return null
  }
}

/**
 * Watches a group of proxy processes while a load run is going: CPU seconds consumed over the run
 * and the peak RSS, sampled every 100 ms (RSS per process; `groups` say which pids add up to one
 * proxy, e.g. nginx master + worker).
 */
class ResourceMonitor {
  constructor (groups, proxyCore = null) {
    // [{ label, rootPid }]: the process and all its descendants at the start of the run (nginx
    // master + worker; a Ferry that forks workers).
    this.groups = groups.map(g => ({ label: g.label, pids: processTree(g.rootPid) }))
    this.proxyCore = proxyCore
    this.coreStart = null
    this.wallStart = 0
    this.allPids = this.groups.flatMap(g => g.pids)
    this.cpuStart = 0
    this.peakRss = new Map(this.groups.map(g => [g.label, 0]))
    this.timer = null
  }

  start () {
    this.cpuStart = cpuSeconds(this.allPids)
    this.coreStart = coreBusySeconds(this.proxyCore)
    this.wallStart = performance.now()
    this.sample()
    this.timer = setInterval(() => this.sample(), 100)
  }

  sample () {
    for (const g of this.groups) {
      let rss = 0
      for (const pid of g.pids) rss += rssMB(pid)
      if (rss > this.peakRss.get(g.label)) this.peakRss.set(g.label, rss)
    }
  }

  /**
   * { cpuSeconds, peakRssMB (largest group), rssByGroup, foreignLoad } where foreignLoad is the
   * share of the proxy's core (0..1) used by processes other than the proxy during the run.
   */
  stop () {
    clearInterval(this.timer)
    this.sample()
    const rssByGroup = Object.fromEntries(this.peakRss)
    const cpu = cpuSeconds(this.allPids) - this.cpuStart
    const coreEnd = coreBusySeconds(this.proxyCore)
    const wall = (performance.now() - this.wallStart) / 1000
    return {
      foreignLoad: this.coreStart === null || coreEnd === null ? null : Math.max(0, (coreEnd - this.coreStart - cpu) / wall),
      cpuSeconds: cpu,
      peakRssMB: Math.max(...this.peakRss.values()),
      rssByGroup
    }
  }
}

module.exports = {
  CLK_TCK, HAVE_TASKSET, setNice, which, startProcess, runToCompletion, stopProcess, killAll, freePort,
  httpGet, waitForHttp, sleep, processTree, cpuSeconds, coreBusySeconds, rssMB, hwmMB, ResourceMonitor
}
