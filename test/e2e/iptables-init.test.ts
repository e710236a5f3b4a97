// `ferry init` against the real iptables, inside a network namespace this test creates and deletes.
// Needs root and the iptables package; CI has both.

import t from 'tap'
import { spawnSync, type SpawnSyncReturns } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import * as path from 'node:path'

const INIT_MODULE = path.resolve(__dirname, '../../src/cli/init')
const INJECTOR_FLAGS = ['-p', '15001', '-z', '15006', '-u', '1337', '-m', 'REDIRECT', '-i', '*', '-x', '', '-b', '*', '-d', '15090,15021,15020']

function sh(file: string, args: string[]): SpawnSyncReturns<string> {
  return spawnSync(file, args, { encoding: 'utf8' })
}

function skipReason(): string | null {
  if (process.platform !== 'linux') return 'network namespaces and iptables need Linux'
  if (process.getuid?.() !== 0) return 'needs root to create a network namespace and program iptables (CI runs as root)'
  if (sh('iptables-restore', ['--version']).status !== 0) return 'iptables is not installed (apt-get install -y iptables)'
  if (sh('ip', ['netns', 'list']).status !== 0) return "'ip netns' is not available (iproute2)"
  return null
}

const reason = skipReason()
if (reason !== null) {
  t.comment(`skipping iptables init e2e: ${reason}`)
  t.pass('skipped', { skip: reason })
} else {
  const ns = `ferry-test-${randomBytes(4).toString('hex')}`
  // The child must load TypeScript the way this test was loaded; tap passes its loader in execArgv.
  const loader = process.execArgv.filter((a) => a.includes('@tapjs/typescript'))

  const inNs = (file: string, args: string[]): SpawnSyncReturns<string> => sh('ip', ['netns', 'exec', ns, file, ...args])
  const runInitInNs = (args: string[]): SpawnSyncReturns<string> => inNs(process.execPath, [...loader, '-e',
    `require(${JSON.stringify(INIT_MODULE)}).runInit(${JSON.stringify(args)}).then((c) => { process.exitCode = c })`])
  // Rules only: the comment lines carry timestamps and the counters vary.
  const natRules = (): string[] => inNs('iptables-save', ['-t', 'nat']).stdout.split('\n').filter((l) => l.startsWith('-A ') || l.startsWith(':'))

  t.before(() => {
    const add = sh('ip', ['netns', 'add', ns])
    if (add.status !== 0) throw new Error(`ip netns add ${ns}: ${add.stderr}`)
  })
  // Runs even when an assertion throws, so a failed run never leaves a namespace behind.
  t.teardown(() => { sh('ip', ['netns', 'del', ns]) })

  t.test('install, re-install, change, clean', async (t) => {
    // Rules that are not ours must survive every step: --noflush, and we only touch ISTIO_* and jumps to them.
    t.equal(inNs('iptables', ['-t', 'nat', '-A', 'POSTROUTING', '-o', 'lo', '-j', 'RETURN']).status, 0)
    t.equal(inNs('iptables', ['-t', 'nat', '-N', 'KEEP-ME']).status, 0)
    t.equal(inNs('iptables', ['-t', 'filter', '-A', 'INPUT', '-p', 'tcp', '--dport', '9', '-j', 'DROP']).status, 0)

    const first = runInitInNs(INJECTOR_FLAGS)
    t.equal(first.status, 0, first.stderr)
    const afterFirst = natRules()
    for (const chain of ['ISTIO_INBOUND', 'ISTIO_IN_REDIRECT', 'ISTIO_REDIRECT', 'ISTIO_OUTPUT']) {
      t.ok(afterFirst.some((l) => l.startsWith(`:${chain} `)), `chain ${chain} exists`)
    }
    t.equal(afterFirst.filter((l) => l === '-A PREROUTING -p tcp -j ISTIO_INBOUND').length, 1)
    t.equal(afterFirst.filter((l) => l === '-A OUTPUT -j ISTIO_OUTPUT').length, 1)
    t.ok(afterFirst.includes('-A ISTIO_IN_REDIRECT -p tcp -j REDIRECT --to-ports 15006'))
    t.ok(afterFirst.includes('-A ISTIO_REDIRECT -p tcp -j REDIRECT --to-ports 15001'))
    t.ok(afterFirst.some((l) => /^-A ISTIO_INBOUND -p tcp (-m tcp )?--dport 15021 -j RETURN$/.test(l)))
    t.ok(afterFirst.some((l) => /^-A ISTIO_OUTPUT .*--uid-owner 1337 -j ISTIO_IN_REDIRECT$/.test(l)))
    t.ok(afterFirst.includes('-A ISTIO_OUTPUT -j ISTIO_REDIRECT'))

    const second = runInitInNs(INJECTOR_FLAGS)
    t.equal(second.status, 0, second.stderr)
    t.same(natRules(), afterFirst, 'running twice changes nothing: no duplicate jumps or rules')

    // Different flags replace the old rules rather than adding to them.
    const changed = runInitInNs(['-b', '8080', '-i', '10.96.0.0/12'])
    t.equal(changed.status, 0, changed.stderr)
    const afterChange = natRules()
    t.equal(afterChange.filter((l) => l === '-A PREROUTING -p tcp -j ISTIO_INBOUND').length, 1)
    t.equal(afterChange.filter((l) => l === '-A OUTPUT -j ISTIO_OUTPUT').length, 1)
    t.ok(afterChange.some((l) => /^-A ISTIO_INBOUND -p tcp (-m tcp )?--dport 8080 -j ISTIO_IN_REDIRECT$/.test(l)))
    t.notOk(afterChange.some((l) => /--dport 15021/.test(l)), 'old excluded ports are gone')
    t.ok(afterChange.includes('-A ISTIO_OUTPUT -d 10.96.0.0/12 -j ISTIO_REDIRECT'))
    t.notOk(afterChange.includes('-A ISTIO_OUTPUT -j ISTIO_REDIRECT'))

    // No inbound capture: the PREROUTING jump from the previous run must go too.
    const noInbound = runInitInNs(['-b', ''])
    t.equal(noInbound.status, 0, noInbound.stderr)
    t.notOk(natRules().some((l) => l.startsWith('-A PREROUTING') && l.includes('ISTIO_')))

    const clean = runInitInNs(['--clean'])
    t.equal(clean.status, 0, clean.stderr)
    const afterClean = natRules()
    t.notOk(afterClean.some((l) => l.includes('ISTIO_')), `no ISTIO_ left: ${afterClean.join('\n')}`)
    t.ok(afterClean.includes('-A POSTROUTING -o lo -j RETURN'), 'foreign nat rule survives')
    t.ok(afterClean.some((l) => l.startsWith(':KEEP-ME ')), 'foreign nat chain survives')
    t.match(inNs('iptables-save', ['-t', 'filter']).stdout, /-A INPUT -p tcp (-m tcp )?--dport 9 -j DROP/, 'filter table untouched')

    const cleanAgain = runInitInNs(['--clean'])
    t.equal(cleanAgain.status, 0, cleanAgain.stderr)
    t.match(cleanAgain.stderr, /nothing to remove/)
  })

  t.test('dry run in the namespace changes nothing', async (t) => {
    const before = natRules()
    const dry = runInitInNs(['--dry-run', ...INJECTOR_FLAGS])
    t.equal(dry.status, 0, dry.stderr)
    t.match(dry.stdout, /^\*nat\n/)
    t.same(natRules(), before)
  })

  t.test('TPROXY is refused with exit 2 and no changes', async (t) => {
    const before = natRules()
    const r = runInitInNs(['-m', 'TPROXY'])
    t.equal(r.status, 2)
    t.match(r.stderr, /TPROXY is not supported/)
    t.same(natRules(), before)
  })
}
