// The benchmark's own plumbing (bench/selftest.js): its load-generator output parsers, and the
// fortio and h2load command lines run through stand-ins, so `npm run bench` is not the first
// place a parser or a flag breaks.

import t from 'tap'
import { spawnSync } from 'node:child_process'
import { join } from 'node:path'

t.test('bench selftest passes', async t => {
  const r = spawnSync(process.execPath, [join(__dirname, '..', '..', '..', 'bench', 'selftest.js')], { encoding: 'utf8', timeout: 60_000 })
  t.equal(r.status, 0, r.stderr)
  t.match(r.stdout, /bench selftest: ok/)
})
