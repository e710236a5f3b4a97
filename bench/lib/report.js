'use strict'
// results.json → results.md and chart.svg. The SVG is written by hand (no chart library): one
// panel per percentile (p50, p99), added latency over direct against connections, one line
// per proxy.

const TARGETS = {
  rps: 12_000,
  vsNginx: 0.30,
  vsHttpProxy: 1.6,
  addedP50Ms: 0.5,
  addedP99Ms: 1.0,
  cpuPer1000: 0.15,
  rssMB: 80
}

const fmt = (v, digits = 2) => (v === null || v === undefined || Number.isNaN(v) ? 'n/a' : Number(v).toFixed(digits))
const fmtInt = v => (v === null || v === undefined || Number.isNaN(v) ? 'n/a' : Math.round(v).toLocaleString('en-US'))

/** The numbers the issue's targets are about, with pass/miss. */
function headline (results) {
  const by = Object.fromEntries(results.targets.map(t => [t.name, t]))
  const ferry = by.ferry
  if (!ferry) return []
  const at = (t, c) => t && t.sweep.find(p => p.connections === c)
  const ref = at(ferry, 16)
  const rows = []
  const add = (what, value, target, pass, unit = '') => rows.push({ what, value, target, pass, unit })
  add('Ferry throughput (rps, 16 conns)', ferry.throughput.rps, `≥ ${TARGETS.rps}`, ferry.throughput.rps >= TARGETS.rps)
  // What one whole core would give at the measured CPU cost per request: robust to other load
  // taking part of the proxy's core on a shared machine, which the plain rps figure is not.
  const ceiling = ferry.throughput.cpuPer1000 > 0 ? 1000 / ferry.throughput.cpuPer1000 : null
  add('Ferry rps per whole core (1000 / CPU-s per 1000 req at saturation)', ceiling, `≥ ${TARGETS.rps}`, ceiling === null ? null : ceiling >= TARGETS.rps)
  if (by.nginx) {
    const r = ferry.throughput.rps / by.nginx.throughput.rps
    add('Ferry / nginx throughput', r, `≥ ${TARGETS.vsNginx}`, r >= TARGETS.vsNginx, '×')
  } else add('Ferry / nginx throughput', null, `≥ ${TARGETS.vsNginx}`, null, '×')
  if (by['http-proxy']) {
    const r = ferry.throughput.rps / by['http-proxy'].throughput.rps
    add('Ferry / node-http-proxy throughput', r, `≥ ${TARGETS.vsHttpProxy}`, r >= TARGETS.vsHttpProxy, '×')
  } else add('Ferry / node-http-proxy throughput', null, `≥ ${TARGETS.vsHttpProxy}`, null, '×')
  if (ref) {
    add(`added p50 at ${results.settings.qps} rps / 16 conns (ms)`, ref.addedP50Ms, `≤ +${TARGETS.addedP50Ms}`, ref.addedP50Ms <= TARGETS.addedP50Ms)
    add(`added p99 at ${results.settings.qps} rps / 16 conns (ms)`, ref.addedP99Ms, `≤ +${TARGETS.addedP99Ms}`, ref.addedP99Ms <= TARGETS.addedP99Ms)
    add(`CPU-s per 1000 requests at ${results.settings.qps} rps / 16 conns`, ref.cpuPer1000, `≤ ${TARGETS.cpuPer1000}`, ref.cpuPer1000 <= TARGETS.cpuPer1000)
  }
  add('CPU-s per 1000 requests at saturation', ferry.throughput.cpuPer1000, `≤ ${TARGETS.cpuPer1000}`, ferry.throughput.cpuPer1000 <= TARGETS.cpuPer1000)
  add('peak RSS under load (MB)', ferry.peakRssMB, `≤ ${TARGETS.rssMB}`, ferry.peakRssMB <= TARGETS.rssMB)
  if (ferry.hwmMB != null) add('lifetime peak RSS, start-up and warm-up included (VmHWM, MB)', ferry.hwmMB, `≤ ${TARGETS.rssMB}`, ferry.hwmMB <= TARGETS.rssMB)
  return rows
}

/** The targets table (also printed at the end of a run). */
function targetsSection (results) {
  const head = headline(results)
  if (head.length === 0) return ''
  const out = ['## Targets', '', '| | measured | target | |', '|---|---:|---:|---|']
  for (const r of head) {
    const v = r.value === null ? 'n/a' : r.unit === '×' ? `${fmt(r.value)}×` : r.value >= 100 ? fmtInt(r.value) : fmt(r.value, 3)
    out.push(`| ${r.what} | ${v} | ${r.target} | ${r.pass === null ? 'not measured' : r.pass ? 'met' : '**missed**'} |`)
  }
  return out.join('\n') + '\n'
}

const pct = v => (v === null || v === undefined ? '' : `${Math.round(v * 100)}%`)

function markdown (results) {
  const m = results.machine
  const t = results.tools
  const s = results.settings
  const out = []
  out.push(`# Ferry benchmark, ${results.date} on ${m.hostname}`, '')
  out.push('## Machine', '')
  out.push('| | |', '|---|---|')
  out.push(`| CPU | ${m.cpuModel}, nproc ${m.nproc} |`)
  out.push(`| memory | ${(m.memTotalMB / 1024).toFixed(1)} GiB |`)
  out.push(`| kernel | ${m.kernel} |`)
  out.push(`| node | ${m.node} |`)
  for (const name of ['fortio', 'nginx', 'wrk', 'h2load', 'hey']) out.push(`| ${name} | ${t[name] ? t[name].version : 'not installed'} |`)
  out.push(`| node-http-proxy | ${t.httpProxy ? t.httpProxy.version : 'not installed (peer skipped)'} |`)
  out.push(`| placement | ${results.placement.note} |`)
  out.push(`| upstream | ${results.upstream} |`)
  if (results.ferry) out.push(`| Ferry build | ${results.ferry.commit ? `${results.ferry.commit}${results.ferry.srcDirty ? ' (src/ modified)' : ''}` : results.ferry.dir} |`)
  out.push(`| load | throughput: ${s.throughputTool} closed loop, ${s.throughputConnections} connections, ${s.durationS} s; latency: ${s.fixedRateTool} at ${s.qps} rps over ${s.connections.join(', ')} connections, ${s.durationS} s each; ${s.warmupS} s warm-up per proxy |`)
  const la = results.loadAverage
  if (la) out.push(`| load average | ${la.before.map(v => v.toFixed(2)).join(' ')} at start, ${la.after.map(v => v.toFixed(2)).join(' ')} at end |`)
  out.push('')
  if (results.notes.length > 0) {
    out.push('Notes:', '')
    for (const n of results.notes) out.push(`- ${n}`)
    out.push('')
  }
  out.push(targetsSection(results))
  out.push(`## Throughput (closed loop, ${s.throughputConnections} connections)`, '')
  out.push('"other load" is the share of the proxy\'s core taken by other processes during the run (a shared machine); it should be near 0%.', '')
  out.push('| | rps | p50 ms | p90 ms | p99 ms | errors | CPU-s / 1000 req | peak RSS MB | other load |', '|---|---:|---:|---:|---:|---:|---:|---:|---:|')
  for (const tg of results.targets) {
    const r = tg.throughput
    out.push(`| ${tg.label} | ${fmtInt(r.rps)} | ${fmt(r.p50Ms)} | ${fmt(r.p90Ms)} | ${fmt(r.p99Ms)} | ${r.errors} | ${tg.name === 'direct' ? '' : fmt(r.cpuPer1000, 3)} | ${tg.name === 'direct' ? '' : fmt(tg.peakRssMB, 1)} | ${pct(r.foreignLoadOnProxyCore)} |`)
  }
  out.push('')
  out.push(`## Latency at ${s.qps} rps (added over direct at the same connection count)`, '')
  out.push('| | conns | achieved rps | p50 ms | p90 ms | p99 ms | +p50 ms | +p90 ms | +p99 ms | CPU-s / 1000 req | other load |', '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|')
  for (const tg of results.targets) {
    for (const p of tg.sweep) {
      const added = tg.name === 'direct' ? ['', '', ''] : [fmt(p.addedP50Ms), fmt(p.addedP90Ms), fmt(p.addedP99Ms)]
      out.push(`| ${tg.label} | ${p.connections} | ${fmtInt(p.rps)} | ${fmt(p.p50Ms)} | ${fmt(p.p90Ms)} | ${fmt(p.p99Ms)} | ${added.join(' | ')} | ${tg.name === 'direct' ? '' : fmt(p.cpuPer1000, 3)} | ${pct(p.foreignLoadOnProxyCore)} |`)
    }
  }
  out.push('', '![added latency against connections](chart.svg)', '')
  return out.join('\n')
}

const COLORS = { ferry: '#1f77b4', 'ferry-sidecar': '#9467bd', nginx: '#2ca02c', 'http-proxy': '#d62728' }

/** Two panels (added p50, added p99) of added latency against connections (log2 x axis). */
function svgChart (results) {
  const proxies = results.targets.filter(t => t.name !== 'direct')
  const conns = results.settings.connections
  const W = 900
  const H = 380
  const panelW = 400
  const panelH = 260
  const top = 50
  const lefts = [60, 520]
  const panels = [['addedP50Ms', 'added p50 (ms)'], ['addedP99Ms', 'added p99 (ms)']]
  const esc = s => String(s).replace(/&/g, '&amp;').replace(/</g, '&lt;')
  const parts = [`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`,
    '<rect width="100%" height="100%" fill="white"/>',
    `<text x="${W / 2}" y="20" text-anchor="middle" font-size="14">Latency added over direct at ${results.settings.qps} rps, by connections (${esc(results.machine.hostname)}, ${results.date})</text>`]
  const xOf = (i, left) => left + (conns.length === 1 ? panelW / 2 : (i * panelW) / (conns.length - 1))
  panels.forEach(([key, title], pi) => {
    const left = lefts[pi]
    const values = proxies.flatMap(t => t.sweep.map(p => p[key])).filter(v => Number.isFinite(v))
    const maxV = niceMax(Math.max(0.5, ...values))
    const minV = Math.min(0, ...values)
    const yOf = v => top + panelH - ((v - minV) / (maxV - minV)) * panelH
    parts.push(`<text x="${left + panelW / 2}" y="${top - 10}" text-anchor="middle">${title}</text>`)
    parts.push(`<rect x="${left}" y="${top}" width="${panelW}" height="${panelH}" fill="none" stroke="#999"/>`)
    for (let k = 0; k <= 5; k++) {
      const v = minV + ((maxV - minV) * k) / 5
      const y = yOf(v)
      parts.push(`<line x1="${left}" y1="${y}" x2="${left + panelW}" y2="${y}" stroke="#eee"/>`)
      parts.push(`<text x="${left - 6}" y="${y + 4}" text-anchor="end">${v.toFixed(v < 10 ? 1 : 0)}</text>`)
    }
    conns.forEach((c, i) => parts.push(`<text x="${xOf(i, left)}" y="${top + panelH + 16}" text-anchor="middle">${c}</text>`))
    parts.push(`<text x="${left + panelW / 2}" y="${top + panelH + 34}" text-anchor="middle">connections</text>`)
    for (const t of proxies) {
      const pts = t.sweep.map(p => [conns.indexOf(p.connections), p[key]]).filter(([i, v]) => i >= 0 && Number.isFinite(v))
      const color = COLORS[t.name] || '#333'
      parts.push(`<polyline fill="none" stroke="${color}" stroke-width="2" points="${pts.map(([i, v]) => `${xOf(i, left).toFixed(1)},${yOf(v).toFixed(1)}`).join(' ')}"/>`)
      for (const [i, v] of pts) parts.push(`<circle cx="${xOf(i, left).toFixed(1)}" cy="${yOf(v).toFixed(1)}" r="3" fill="${color}"/>`)
    }
  })
  proxies.forEach((t, i) => {
    const x = 60 + i * 210
    parts.push(`<rect x="${x}" y="${H - 22}" width="14" height="4" fill="${COLORS[t.name] || '#333'}"/>`)
    parts.push(`<text x="${x + 20}" y="${H - 16}">${esc(t.label)}</text>`)
  })
  parts.push('</svg>')
  return parts.join('\n') + '\n'
}

function niceMax (v) {
  const step = 10 ** Math.floor(Math.log10(v))
  for (const m of [1, 2, 2.5, 5, 10]) if (m * step >= v) return m * step
  return 10 * step
}

module.exports = { TARGETS, headline, targetsSection, markdown, svgChart }
