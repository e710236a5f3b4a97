'use strict'
// Micro benchmark for src/routing: route selection over 1000 routes, regex engines, virtual host
// lookup, weighted pick. Plain node on the compiled output:
//   npx tsc -p . && node bench/micro/route-match.bench.js
// Prints ns/op; numbers are per call of the named operation.
const path = require('node:path')
const dist = path.join(__dirname, '..', '..', 'dist', 'routing')
const { compileHttpMatch, firstMatch } = require(path.join(dist, 'http-match'))
const { compileRegex, compileRe2Regex } = require(path.join(dist, 'regex'))
const { VirtualHostTable } = require(path.join(dist, 'virtual-host-table'))
const { compileWeights } = require(path.join(dist, 'weighted-pick'))

let sink = 0

function bench (name, fn, { iterations = 1_000_000, warmup = 50_000 } = {}) {
  for (let i = 0; i < warmup; i++) sink += fn(i) ? 1 : 0
  const start = process.hrtime.bigint()
  for (let i = 0; i < iterations; i++) sink += fn(i) ? 1 : 0
  const ns = Number(process.hrtime.bigint() - start) / iterations
  console.log(`${name.padEnd(62)} ${ns.toFixed(1).padStart(10)} ns/op`)
  return ns
}

function view (p, headers = {}) {
  const q = p.indexOf('?')
  return {
    method: 'GET',
    path: p,
    pathOnly: q === -1 ? p : p.slice(0, q),
    query: q === -1 ? '' : p.slice(q + 1),
    authority: 'reviews:9080',
    scheme: 'http',
    headers,
    queryMap: undefined
  }
}

function routes (n, kind) {
  const out = []
  for (let i = 0; i < n; i++) {
    let block
    switch (kind) {
      case 'prefix': block = { uri: { prefix: `/svc${i}/` } }; break
      case 'exact': block = { uri: { exact: `/svc${i}/items` } }; break
      case 'regex-js': block = { uri: { regex: `/svc${i}/items/[0-9]+` } }; break
      case 'regex-re2': block = { uri: { regex: `(?i)/svc${i}/items/[0-9]+` } }; break // (?i): RE2 only
      case 'header': block = { uri: { prefix: '/' }, headers: { 'x-tenant': { exact: `t${i}` } } }; break
      case 'query': block = { uri: { prefix: '/' }, queryParams: { tenant: { exact: `t${i}` } } }; break
      case 'mixed':
        block = i % 4 === 0
          ? { uri: { prefix: `/svc${i}/` }, method: { exact: 'POST' } }
          : i % 4 === 1
            ? { uri: { exact: `/svc${i}/items` } }
            : i % 4 === 2
              ? { uri: { prefix: `/svc${i}/` }, headers: { 'end-user': { exact: `u${i}` } } }
              : { uri: { regex: `/svc${i}/items/[0-9]+` } }
        break
    }
    out.push({ name: `r${i}`, matches: [compileHttpMatch(block)] })
  }
  return out
}

console.log(`node ${process.version}, ${require('node:os').cpus()[0].model}`)
console.log('\n-- firstMatch over 1000 routes, request matches the LAST route (worst case)')
const N = 1000
const last = N - 1
const cases = [
  ['prefix', view(`/svc${last}/items/1`)],
  ['exact', view(`/svc${last}/items`)],
  ['regex-js', view(`/svc${last}/items/42`)],
  ['header', view('/x', { 'x-tenant': `t${last}` })],
  ['mixed', view(`/svc${last}/items/42`)]
]
for (const [kind, req] of cases) {
  const table = routes(N, kind)
  if (firstMatch(table, req) !== table[last]) throw new Error(`bench setup: ${kind} did not match the last route`)
  const ns = bench(`firstMatch 1000 ${kind} routes`, () => firstMatch(table, req) !== null, { iterations: kind === 'regex-js' ? 5_000 : 20_000, warmup: 2_000 })
  console.log(`${''.padEnd(62)} ${(ns / N).toFixed(1).padStart(10)} ns/route`)
}
{
  // Query: a fresh view per request, so the parse-once cost is included.
  const table = routes(N, 'query')
  const ns = bench('firstMatch 1000 query routes (fresh view, parse once)', () => firstMatch(table, view(`/x?a=1&tenant=t${last}&b=2`)) !== null, { iterations: 20_000, warmup: 2_000 })
  console.log(`${''.padEnd(62)} ${(ns / N).toFixed(1).padStart(10)} ns/route`)
}
{
  const table = routes(100, 'regex-re2')
  const req = view('/svc99/items/42')
  const ns = bench('firstMatch 100 RE2-only regex routes', () => firstMatch(table, req) !== null, { iterations: 500, warmup: 50 })
  console.log(`${''.padEnd(62)} ${(ns / 100).toFixed(1).padStart(10)} ns/route`)
}

console.log('\n-- first route matches (typical: catch-all or hot route first)')
{
  const table = routes(N, 'prefix')
  const req = view('/svc0/items/1')
  bench('firstMatch, match at route 0 of 1000', () => firstMatch(table, req) !== null)
}

console.log('\n-- one regex, JS subset vs RE2 (re2-wasm), pattern /api/v[0-9]+/users/.*')
{
  const js = compileRegex('/api/v[0-9]+/users/.*')
  const re2 = compileRe2Regex('/api/v[0-9]+/users/.*')
  if (js.engine !== 'js') throw new Error('expected the JS engine')
  const hit = '/api/v12/users/12345/profile'
  const miss = '/api/v12/orders/12345/profile'
  bench('regex test, JS, hit', () => js.test(hit))
  bench('regex test, JS, miss', () => js.test(miss))
  bench('regex test, RE2, hit', () => re2.test(hit), { iterations: 100_000, warmup: 5_000 })
  bench('regex test, RE2, miss', () => re2.test(miss), { iterations: 100_000, warmup: 5_000 })
  const long = '/api/v1/users/' + 'x'.repeat(4096)
  bench('regex test, JS, 4 KiB path', () => js.test(long), { iterations: 100_000 })
  bench('regex test, RE2, 4 KiB path', () => re2.test(long), { iterations: 10_000, warmup: 1_000 })
}

console.log('\n-- VirtualHostTable, 1000 services x 10 domains + 20 wildcards + *')
{
  const entries = []
  for (let i = 0; i < 1000; i++) {
    const f = `svc${i}.ns${i % 10}.svc.cluster.local`
    entries.push({ domains: [f, `${f}:80`, `svc${i}`, `svc${i}:80`, `svc${i}.ns${i % 10}`, `svc${i}.ns${i % 10}:80`, `svc${i}.ns${i % 10}.svc`, `10.0.${i >> 8}.${i & 255}`, `10.0.${i >> 8}.${i & 255}:80`, `${f}.`], value: i })
  }
  for (let i = 0; i < 20; i++) entries.push({ domains: [`*.wild${i}.example.com`], value: 1000 + i })
  entries.push({ domains: ['*'], value: -1 })
  const table = new VirtualHostTable(entries)
  bench('lookup exact (svc500:80)', () => table.lookup('svc500:80') === 500)
  bench('lookup port stripped (svc500:9999)', () => table.lookup('svc500:9999') === 500)
  bench('lookup mixed case (SVC500.ns0.svc.cluster.local)', () => table.lookup('SVC500.ns0.svc.cluster.local') === 500)
  bench('lookup suffix wildcard, last of 20 (a.wild19.example.com)', () => table.lookup('a.wild19.example.com') === 1019)
  bench('lookup miss -> * (unknown.org)', () => table.lookup('unknown.org') === -1)
}

console.log('\n-- weighted pick')
{
  const two = compileWeights([90, 10])
  const five = compileWeights([10, 20, 30, 25, 15])
  const many = compileWeights(Array.from({ length: 32 }, (_, i) => i + 1))
  bench('pick of 2', i => two.pick((i % 1000) / 1000) === 0)
  bench('pick of 5', i => five.pick((i % 1000) / 1000) === 0)
  bench('pick of 32 (binary search)', i => many.pick((i % 1000) / 1000) === 0)
}

if (sink === 0.5) console.log(sink) // keep results alive
