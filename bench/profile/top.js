'use strict'
// Summarise a V8 .cpuprofile (node --cpu-prof): self time per function and per file, heaviest
// first. Self time is what a function spends in its own code, not in what it calls, which is
// where allocation, copying and string work show up.
//   node bench/profile/top.js FILE.cpuprofile [--top 30] [--callers writev]
// --callers NAME: the call paths (nearest JS frames first) that lead to NAME's self time.
const fs = require('node:fs')
const path = require('node:path')

const REPO = path.join(__dirname, '..', '..')

/** Self time (ms) per node id, from the sample list and the time deltas between samples. */
function selfTimes (profile) {
  const self = new Map()
  const { samples, timeDeltas } = profile
  for (let i = 0; i < samples.length; i++) {
    // timeDeltas[i] is the time before sample i; charge it to the node sampled at i.
    const dt = (timeDeltas[i] || 0) / 1000
    self.set(samples[i], (self.get(samples[i]) || 0) + dt)
  }
  return self
}

function where (cf) {
  let url = cf.url || ''
  if (url.startsWith('file://')) url = url.slice(7)
  if (url.startsWith(REPO)) url = url.slice(REPO.length + 1)
  if (url === '') return '(native)'
  return `${url}:${cf.lineNumber + 1}`
}

/** Which part of the process a frame belongs to, for the coarse split. */
function area (cf) {
  const url = cf.url || ''
  if (cf.functionName === '(garbage collector)') return 'GC'
  if (cf.functionName === '(idle)') return 'idle'
  if (cf.functionName === '(program)') return 'program (V8/native outside JS)'
  if (url.includes('/dist/')) return 'ferry (dist/)'
  if (url.includes('node_modules/undici')) return 'undici'
  if (url.includes('node_modules/')) return 'other node_modules'
  if (url.startsWith('node:')) return 'node core (http, net, streams)'
  return 'native / builtins'
}

function summarise (profile, top) {
  const self = selfTimes(profile)
  const byFn = new Map()
  const byFile = new Map()
  const byArea = new Map()
  let total = 0
  for (const node of profile.nodes) {
    const t = self.get(node.id) || 0
    if (t === 0) continue
    total += t
    const cf = node.callFrame
    const a = area(cf)
    byArea.set(a, (byArea.get(a) || 0) + t)
    // Idle is time the event loop waited for I/O: shown in the area split only.
    if (a === 'idle') continue
    const fnKey = `${cf.functionName || '(anonymous)'}  ${where(cf)}`
    byFn.set(fnKey, (byFn.get(fnKey) || 0) + t)
    const file = where(cf).replace(/:\d+$/, '')
    byFile.set(file, (byFile.get(file) || 0) + t)
  }
  const idle = byArea.get('idle') || 0
  const busy = total - idle
  byArea.delete('idle')
  const table = (title, map, n) => {
    const lines = [`\n${title} (ms, % of busy time ${busy.toFixed(0)} ms; idle ${idle.toFixed(0)} ms not counted)`]
    for (const [k, v] of [...map].sort((a, b) => b[1] - a[1]).slice(0, n)) {
      lines.push(`${v.toFixed(1).padStart(9)} ${(100 * v / busy).toFixed(1).padStart(5)}%  ${k}`)
    }
    return lines.join('\n')
  }
  return [
    table('by area', byArea, 20),
    table('by file', byFile, top),
    table('by function (self time)', byFn, top)
  ].join('\n')
}

/** Self time of functions named `name`, grouped by their chain of `depth` callers. */
function callers (profile, name, depth = 4, top = 15) {
  const self = selfTimes(profile)
  const parent = new Map()
  for (const node of profile.nodes) for (const c of node.children || []) parent.set(c, node)
  const byChain = new Map()
  let total = 0
  for (const node of profile.nodes) {
    if (node.callFrame.functionName !== name) continue
    const t = self.get(node.id) || 0
    if (t === 0) continue
    total += t
    const chain = []
    for (let p = parent.get(node.id); p && chain.length < depth; p = parent.get(p.id)) {
      chain.push(`${p.callFrame.functionName || '(anonymous)'} ${where(p.callFrame).replace(/^.*\/(dist|node_modules)\//, '$1/')}`)
    }
    const key = chain.join(' <- ')
    byChain.set(key, (byChain.get(key) || 0) + t)
  }
  const lines = [`\ncallers of ${name} (${total.toFixed(0)} ms self)`]
  for (const [k, v] of [...byChain].sort((a, b) => b[1] - a[1]).slice(0, top)) lines.push(`${v.toFixed(1).padStart(9)}  ${k}`)
  return lines.join('\n')
}

if (require.main === module) {
  const file = process.argv[2]
  if (!file) {
    console.error('usage: node bench/profile/top.js FILE.cpuprofile [--top N]')
    process.exit(2)
  }
  const i = process.argv.indexOf('--top')
  const top = i > 0 ? Number(process.argv[i + 1]) : 30
  const profile = JSON.parse(fs.readFileSync(file, 'utf8'))
  const c = process.argv.indexOf('--callers')
  console.log(c > 0 ? callers(profile, process.argv[c + 1]) : summarise(profile, top))
}

module.exports = { summarise, selfTimes, callers }
