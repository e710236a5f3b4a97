'use strict'
// What the benchmark ran on and with: CPU, memory, kernel, Node, and the version of every external
// tool it found. Written into results.json and results.md so numbers are never read without
// the machine they came from.

const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { spawnSync } = require('node:child_process')
const { which, HAVE_TASKSET } = require('./proc')

function firstLine (text) {
  return (text || '').split('\n').find(l => l.trim() !== '') || ''
}

/** Output of `cmd args` (stdout and stderr together), or null when it cannot run. */
function capture (cmd, args) {
  // Several tools print their version on stderr (nginx) or exit non-zero after printing it (wrk).
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: 5000 })
  const text = `${r.stdout || ''}${r.stderr || ''}`
  return text === '' ? null : text
}

function debianVersion (pkg) {
  const v = capture('dpkg-query', ['-W', '-f', '${Version}', pkg])
  return v && !/no packages/i.test(v) ? v.trim() : null
}

function httpProxyModule () {
  try {
    const resolved = require.resolve('http-proxy', { paths: [path.join(__dirname, '..', '..')] })
    return { path: resolved, version: require(path.join(path.dirname(resolved), 'package.json')).version }
  } catch {
    return null
  }
}

/** External tools the benchmark can use; a missing one is null. */
function detectTools () {
  const tool = (name, versionArgs, parse = firstLine) => {
    const bin = which(name)
    if (bin === null) return null
    const text = capture(bin, versionArgs)
    return { path: bin, version: (text && parse(text).trim()) || debianVersion(name) || 'unknown' }
  }
  return {
    fortio: tool('fortio', ['version']),
    nginx: tool('nginx', ['-v'], t => firstLine(t).replace(/^nginx version:\s*/, '')),
    wrk: tool('wrk', ['-v'], t => firstLine(t).replace(/Copyright.*$/, '')),
    h2load: tool('h2load', ['--version'], t => firstLine(t).replace(/^h2load\s*/, '')),
    // hey has no version flag; the Debian package version is the best available.
    hey: which('hey') ? { path: which('hey'), version: debianVersion('hey') || 'unknown' } : null,
    taskset: HAVE_TASKSET ? { path: which('taskset'), version: firstLine(capture('taskset', ['-V'])) } : null,
    httpProxy: httpProxyModule()
  }
}

function describeMachine () {
  let model = 'unknown'
  let memTotalMB = Math.round(os.totalmem() / 1024 / 1024)
  try {
    const m = /^model name\s*:\s*(.*)$/m.exec(fs.readFileSync('/proc/cpuinfo', 'utf8'))
    if (m) model = m[1].trim()
  } catch {}
  try {
    const m = /^MemTotal:\s+(\d+) kB/m.exec(fs.readFileSync('/proc/meminfo', 'utf8'))
    if (m) memTotalMB = Math.round(Number(m[1]) / 1024)
  } catch {}
  return {
    hostname: os.hostname(),
    nproc: typeof os.availableParallelism === 'function' ? os.availableParallelism() : os.cpus().length,
    cpuModel: model,
    memTotalMB,
    kernel: `${os.type()} ${os.release()}`,
    node: process.version,
    arch: process.arch
  }
}

/**
 * Which core runs what. The proxy under test gets a core of its own (core 1); the load generator
 * and the upstream share what is left. With only two cores they share core 0, which caps what any
 * proxy can reach (the peers included) and is stated in the output.
 */
function placement (nproc) {
  if (nproc < 2) {
    return { proxy: null, proxyHop2: null, upstream: null, loadgen: null, note: 'one core: nothing pinned; every process shares it' }
  }
  if (nproc === 2) {
    return { proxy: '1', proxyHop2: '1', upstream: '0', loadgen: '0', note: 'two cores: proxy on core 1 (both sidecar hops share it); upstream and load generator share core 0' }
  }
  if (nproc === 3) {
    return { proxy: '1', proxyHop2: '1', upstream: '2', loadgen: '0', note: 'three cores: proxy on core 1 (both sidecar hops share it), upstream on core 2, load generator on core 0' }
  }
  const last = nproc - 1
  return {
    proxy: '1',
    proxyHop2: '2',
    upstream: String(last),
    loadgen: nproc === 4 ? '0' : nproc === 5 ? '0,3' : `0,3-${last - 1}`,
    note: `${nproc} cores: proxy on core 1, second sidecar hop on core 2, upstream on core ${last}, load generator on the rest`
  }
}

module.exports = { detectTools, describeMachine, placement }
