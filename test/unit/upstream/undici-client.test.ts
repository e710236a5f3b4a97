// Ferry loads undici's Client by its file (src/upstream/connection-pool.ts) instead of undici's
// index, which loads fetch, WebSocket and the rest for 9 MB more RSS. This pins that file to the
// class undici exports, so an undici upgrade that moves it fails here rather than in the proxy.

import t from 'tap'
import { spawnSync } from 'node:child_process'

t.test('undici/lib/dispatcher/client.js is the Client undici exports', async t => {
  const direct = require('undici/lib/dispatcher/client.js') as unknown
  const { Client } = await import('undici')
  t.equal(direct, Client)
})

t.test('starting the proxy does not load undici\'s index', async t => {
  const script = `
    require(${JSON.stringify(require.resolve('../../../dist/ferry'))})
    require(${JSON.stringify(require.resolve('../../../dist/cli/main'))})
    const index = require.resolve('undici')
    process.stdout.write(String(Object.keys(require.cache).includes(index)))`
  const r = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', timeout: 30_000 })
  t.equal(r.stderr.trim(), '')
  t.equal(r.stdout, 'false')
})
