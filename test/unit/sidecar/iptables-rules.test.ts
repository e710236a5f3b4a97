// Expected rule text is derived from istio/istio tools/istio-iptables/pkg/capture/testdata/*.golden
// (named per case). Differences on purpose: chains are declared `:CHAIN - [0:0]` instead of `-N CHAIN`
// (create-or-flush under --noflush), and golden lines for features Ferry does not implement
// (DNS capture, kube-virt interfaces) are left out of the flag sets we compare.

import t from 'tap'
import { runInit } from '../../../src/cli/init'
import {
  buildApplyInput, buildCleanInput, buildRules, CaptureOptionsError, parseInitArgs, parseNatSave,
} from '../../../src/sidecar/iptables-rules'
import type { CommandResult } from '../../../src/sidecar/iptables'

const INJECTOR_FLAGS = ['-p', '15001', '-z', '15006', '-u', '1337', '-m', 'REDIRECT', '-i', '*', '-x', '', '-b', '*', '-d', '15090,15021,15020']

const CHAINS_V4 = ['ISTIO_INBOUND', 'ISTIO_REDIRECT', 'ISTIO_IN_REDIRECT', 'ISTIO_OUTPUT']

function restore(rules: string[], chains: string[] = CHAINS_V4): string {
  return ['*nat', ...chains.map((c) => `:${c} - [0:0]`), ...rules, 'COMMIT'].join('\n') + '\n'
}

// The head every golden file shares.
const HEAD = [
  '-A ISTIO_INBOUND -p tcp --dport 15008 -j RETURN',
  '-A ISTIO_REDIRECT -p tcp -j REDIRECT --to-ports 15001',
  '-A ISTIO_IN_REDIRECT -p tcp -j REDIRECT --to-ports 15006',
]

function ownerRules(kind: 'uid' | 'gid', owner: string, opts: { loopback?: string, returnOnLo?: boolean } = {}): string[] {
  const lo = opts.loopback ?? '127.0.0.1/32'
  const rules = [`-A ISTIO_OUTPUT -o lo ! -d ${lo} -p tcp ! --dport 15008 -m owner --${kind}-owner ${owner} -j ISTIO_IN_REDIRECT`]
  if (opts.returnOnLo !== false) rules.push(`-A ISTIO_OUTPUT -o lo -m owner ! --${kind}-owner ${owner} -j RETURN`)
  rules.push(`-A ISTIO_OUTPUT -m owner --${kind}-owner ${owner} -j RETURN`)
  return rules
}

// golden: empty.golden's OUTPUT part (proxy uid/gid 1337, loopback 127.0.0.1/32).
const OUTPUT_1337 = [
  '-A OUTPUT -j ISTIO_OUTPUT',
  '-A ISTIO_OUTPUT -o lo -s 127.0.0.6/32 -j RETURN',
  ...ownerRules('uid', '1337'),
  ...ownerRules('gid', '1337'),
  '-A ISTIO_OUTPUT -d 127.0.0.1/32 -j RETURN',
]

async function dryRun(argv: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number, out: string, err: string }> {
  let out = ''
  let err = ''
  const code = await runInit(argv, {
    stdout: { write: (s: string) => { out += s } },
    stderr: { write: (s: string) => { err += s } },
    env,
    run: async () => { throw new Error('--dry-run must not run iptables') },
  })
  return { code, out, err }
}

t.test('injector default flags (inbound-ports-wildcard + kube-virt-interfaces wildcard include)', async (t) => {
  const { code, out } = await dryRun(['--dry-run', ...INJECTOR_FLAGS])
  t.equal(code, 0)
  t.equal(out, restore([
    ...HEAD,
    '-A PREROUTING -p tcp -j ISTIO_INBOUND',
    '-A ISTIO_INBOUND -p tcp --dport 15090 -j RETURN',
    '-A ISTIO_INBOUND -p tcp --dport 15021 -j RETURN',
    '-A ISTIO_INBOUND -p tcp --dport 15020 -j RETURN',
    '-A ISTIO_INBOUND -p tcp -j ISTIO_IN_REDIRECT',
    ...OUTPUT_1337,
    '-A ISTIO_OUTPUT -j ISTIO_REDIRECT',
  ]))
})

t.test('no flags means the same defaults as the injector, minus the excluded ports', async (t) => {
  const { out } = await dryRun(['-n'])
  t.equal(out, restore([
    ...HEAD,
    '-A PREROUTING -p tcp -j ISTIO_INBOUND',
    '-A ISTIO_INBOUND -p tcp -j ISTIO_IN_REDIRECT',
    ...OUTPUT_1337,
    '-A ISTIO_OUTPUT -j ISTIO_REDIRECT',
  ]))
})

t.test('empty.golden: nothing captured inbound or outbound', async (t) => {
  const { out } = await dryRun(['--dry-run', '-b', '', '-i', ''])
  t.equal(out, restore([...HEAD, ...OUTPUT_1337]))
})

t.test('inbound-ports-include.golden', async (t) => {
  const { out } = await dryRun(['--dry-run', '-b', '32000,31000', '-i', ''])
  t.equal(out, restore([
    ...HEAD,
    '-A PREROUTING -p tcp -j ISTIO_INBOUND',
    '-A ISTIO_INBOUND -p tcp --dport 32000 -j ISTIO_IN_REDIRECT',
    '-A ISTIO_INBOUND -p tcp --dport 31000 -j ISTIO_IN_REDIRECT',
    ...OUTPUT_1337,
  ]))
})

t.test('excluded inbound ports only apply to a wildcard include (ipv6-ipnets.golden)', async (t) => {
  const { out } = await dryRun(['--dry-run', '-b', '4000,5000', '-d', '6000,7000,', '-i', ''])
  t.equal(out, restore([
    ...HEAD,
    '-A PREROUTING -p tcp -j ISTIO_INBOUND',
    '-A ISTIO_INBOUND -p tcp --dport 4000 -j ISTIO_IN_REDIRECT',
    '-A ISTIO_INBOUND -p tcp --dport 5000 -j ISTIO_IN_REDIRECT',
    ...OUTPUT_1337,
  ]))
})

t.test('outbound-ports-include.golden', async (t) => {
  const { out } = await dryRun(['--dry-run', '-b', '', '-i', '', '-q', '32000,31000'])
  t.equal(out, restore([
    ...HEAD,
    ...OUTPUT_1337,
    '-A ISTIO_OUTPUT -p tcp --dport 32000 -j ISTIO_REDIRECT',
    '-A ISTIO_OUTPUT -p tcp --dport 31000 -j ISTIO_REDIRECT',
  ]))
})

t.test('ipnets.golden: outbound include CIDR', async (t) => {
  const { out } = await dryRun(['--dry-run', '-b', '', '-i', '10.0.0.0/8'])
  t.equal(out, restore([...HEAD, ...OUTPUT_1337, '-A ISTIO_OUTPUT -d 10.0.0.0/8 -j ISTIO_REDIRECT']))
})

t.test('ip-range.golden without DNS: exclude before include, several uids and gids', async (t) => {
  const { out } = await dryRun(['--dry-run', '-b', '', '-x', '1.1.0.0/16', '-i', '9.9.0.0/16', '-u', '3,4', '-g', '1,2'])
  t.equal(out, restore([
    ...HEAD,
    '-A OUTPUT -j ISTIO_OUTPUT',
    '-A ISTIO_OUTPUT -o lo -s 127.0.0.6/32 -j RETURN',
    ...ownerRules('uid', '3'), ...ownerRules('uid', '4'),
    ...ownerRules('gid', '1'), ...ownerRules('gid', '2'),
    '-A ISTIO_OUTPUT -d 127.0.0.1/32 -j RETURN',
    '-A ISTIO_OUTPUT -d 1.1.0.0/16 -j RETURN',
    '-A ISTIO_OUTPUT -d 9.9.0.0/16 -j ISTIO_REDIRECT',
  ]))
})

t.test('ipv6-uid-gid.golden: IPv6 CIDRs add nothing to the IPv4 table', async (t) => {
  const { out } = await dryRun(['--dry-run', '-b', '4000,5000', '-d', '6000,7000', '-u', '3,4', '-g', '1,2',
    '-x', '2001:db8::/32', '-i', '2001:db8::/32'])
  t.equal(out, restore([
    ...HEAD,
    '-A PREROUTING -p tcp -j ISTIO_INBOUND',
    '-A ISTIO_INBOUND -p tcp --dport 4000 -j ISTIO_IN_REDIRECT',
    '-A ISTIO_INBOUND -p tcp --dport 5000 -j ISTIO_IN_REDIRECT',
    '-A OUTPUT -j ISTIO_OUTPUT',
    '-A ISTIO_OUTPUT -o lo -s 127.0.0.6/32 -j RETURN',
    ...ownerRules('uid', '3'), ...ownerRules('uid', '4'),
    ...ownerRules('gid', '1'), ...ownerRules('gid', '2'),
    '-A ISTIO_OUTPUT -d 127.0.0.1/32 -j RETURN',
  ]))
})

t.test('ipv6-ipnets.golden, IPv6 half', async (t) => {
  const req = parseInitArgs(['-b', '4000,5000', '-d', '6000,7000,', '-x', '2001:db8::/32', '-i', '2001:db8::/32'], {})
  const lo = '::1/128'
  t.equal(buildRules(req.capture, 6), restore([
    ...HEAD,
    '-A PREROUTING -p tcp -j ISTIO_INBOUND',
    '-A ISTIO_INBOUND -p tcp --dport 4000 -j ISTIO_IN_REDIRECT',
    '-A ISTIO_INBOUND -p tcp --dport 5000 -j ISTIO_IN_REDIRECT',
    '-A OUTPUT -j ISTIO_OUTPUT',
    '-A ISTIO_OUTPUT -o lo -s ::6/128 -j RETURN',
    ...ownerRules('uid', '1337', { loopback: lo }),
    ...ownerRules('gid', '1337', { loopback: lo }),
    `-A ISTIO_OUTPUT -d ${lo} -j RETURN`,
    '-A ISTIO_OUTPUT -d 2001:db8::/32 -j RETURN',
    '-A ISTIO_OUTPUT -d 2001:db8::/32 -j ISTIO_REDIRECT',
  ]))
})

t.test('--dual-stack dry run prints both families', async (t) => {
  const { out } = await dryRun(['--dry-run', '--dual-stack'])
  t.match(out, /^\*nat\n[\s\S]*-s 127\.0\.0\.6\/32[\s\S]*COMMIT\n# ip6tables-restore --noflush\n\*nat\n[\s\S]*-s ::6\/128[\s\S]*COMMIT\n$/)
})

t.test('loopback-outbound-iprange.golden without DNS: capturing loopback keeps app-to-self traffic', async (t) => {
  const { out } = await dryRun(['--dry-run', '-b', '', '-i', '127.1.2.3/32', '-u', '3,4', '-g', '1,2'])
  const keep = { returnOnLo: false }
  t.equal(out, restore([
    ...HEAD,
    '-A OUTPUT -j ISTIO_OUTPUT',
    '-A ISTIO_OUTPUT -o lo -s 127.0.0.6/32 -j RETURN',
    ...ownerRules('uid', '3', keep), ...ownerRules('uid', '4', keep),
    ...ownerRules('gid', '1', keep), ...ownerRules('gid', '2', keep),
    '-A ISTIO_OUTPUT -d 127.0.0.1/32 -j RETURN',
    '-A ISTIO_OUTPUT -d 127.1.2.3/32 -j ISTIO_REDIRECT',
  ]))
})

t.test('host-ipv4-loopback-cidr.golden via ISTIO_OUTBOUND_IPV4_LOOPBACK_CIDR', async (t) => {
  const { out } = await dryRun(['--dry-run', '-b', '', '-i', ''], { ISTIO_OUTBOUND_IPV4_LOOPBACK_CIDR: '127.0.0.1/8' })
  const lo = '127.0.0.1/8'
  t.equal(out, restore([
    ...HEAD,
    '-A OUTPUT -j ISTIO_OUTPUT',
    '-A ISTIO_OUTPUT -o lo -s 127.0.0.6/32 -j RETURN',
    ...ownerRules('uid', '1337', { loopback: lo }),
    ...ownerRules('gid', '1337', { loopback: lo }),
    `-A ISTIO_OUTPUT -d ${lo} -j RETURN`,
  ]))
  const bad = await dryRun(['--dry-run'], { ISTIO_OUTBOUND_IPV4_LOOPBACK_CIDR: '10.0.0.0/8' })
  t.equal(bad.code, 2)
})

t.test('outbound excluded ports RETURN for tcp and udp before anything else in ISTIO_OUTPUT (run.go)', async (t) => {
  const { out } = await dryRun(['--dry-run', '-b', '', '-i', '', '-o', '5432,6379', '-p', '16001', '-z', '16006', '-u', '1000'])
  t.equal(out, restore([
    '-A ISTIO_INBOUND -p tcp --dport 15008 -j RETURN',
    '-A ISTIO_REDIRECT -p tcp -j REDIRECT --to-ports 16001',
    '-A ISTIO_IN_REDIRECT -p tcp -j REDIRECT --to-ports 16006',
    '-A OUTPUT -j ISTIO_OUTPUT',
    '-A ISTIO_OUTPUT -p tcp --dport 5432 -j RETURN',
    '-A ISTIO_OUTPUT -p udp --dport 5432 -j RETURN',
    '-A ISTIO_OUTPUT -p tcp --dport 6379 -j RETURN',
    '-A ISTIO_OUTPUT -p udp --dport 6379 -j RETURN',
    '-A ISTIO_OUTPUT -o lo -s 127.0.0.6/32 -j RETURN',
    // -g defaults to -u, as in Istio.
    ...ownerRules('uid', '1000'),
    ...ownerRules('gid', '1000'),
    '-A ISTIO_OUTPUT -d 127.0.0.1/32 -j RETURN',
  ]))
})

t.test('long flag names and --flag=value', async (t) => {
  const short = await dryRun(['-n', '-p', '15001', '-b', '8080', '-i', '10.96.0.0/12'])
  const long = await dryRun(['--dry-run', '--envoy-port=15001', '--istio-inbound-ports', '8080', '--istio-service-cidr=10.96.0.0/12'])
  t.equal(long.out, short.out)
  t.match(long.out, /-A ISTIO_OUTPUT -d 10\.96\.0\.0\/12 -j ISTIO_REDIRECT\n/)
})

t.test('bad flags exit 2 with a reason and print nothing to stdout', async (t) => {
  const cases: Array<[string[], RegExp]> = [
    [['-m', 'TPROXY'], /TPROXY is not supported: Ferry only implements REDIRECT/],
    [['-m', 'BOGUS'], /unknown mode "BOGUS"/],
    [['-x', '*'], /'\*' is not allowed/],
    [['-p', '70000'], /--envoy-port: "70000" is not a port/],
    [['-b', '80,http'], /--istio-inbound-ports: "http" is not a port/],
    [['-i', '10.0.0.0'], /is not a CIDR/],
    [['-i', '10.0.0.0/33'], /is not a CIDR/],
    [['-u', ''], /--proxy-uid: must name at least one owner/],
    [['--no-such-flag'], /Unknown option '--no-such-flag'/],
    [['extra'], /Unexpected argument 'extra'/],
  ]
  for (const [argv, msg] of cases) {
    const { code, out, err } = await dryRun(['--dry-run', ...argv])
    t.equal(code, 2, argv.join(' '))
    t.equal(out, '', argv.join(' '))
    t.match(err, msg, argv.join(' '))
  }
  t.throws(() => parseInitArgs(['-m', 'TPROXY'], {}), { code: 'FERRY_INIT_UNSUPPORTED_MODE' })
  t.throws(() => parseInitArgs(['-p', 'x'], {}), CaptureOptionsError)
})

t.test('--help', async (t) => {
  const { code, out } = await dryRun(['--help'])
  t.equal(code, 0)
  t.match(out, /--istio-local-exclude-ports/)
})

// What `iptables-save -t nat` (nft backend) prints after one apply of the injector flags, plus a foreign rule.
const LIVE = `# Generated by iptables-save v1.8.9 (nf_tables)
*nat
:PREROUTING ACCEPT [0:0]
:INPUT ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
:ISTIO_INBOUND - [0:0]
:ISTIO_IN_REDIRECT - [0:0]
:ISTIO_OUTPUT - [0:0]
:ISTIO_REDIRECT - [0:0]
:KUBE-SERVICES - [0:0]
-A PREROUTING -j KUBE-SERVICES
-A PREROUTING -p tcp -j ISTIO_INBOUND
-A OUTPUT -j ISTIO_OUTPUT
-A ISTIO_INBOUND -p tcp -m tcp --dport 15008 -j RETURN
-A ISTIO_INBOUND -p tcp -j ISTIO_IN_REDIRECT
-A ISTIO_IN_REDIRECT -p tcp -j REDIRECT --to-ports 15006
-A ISTIO_OUTPUT -j ISTIO_REDIRECT
-A ISTIO_REDIRECT -p tcp -j REDIRECT --to-ports 15001
-A POSTROUTING -o eth0 -j MASQUERADE
COMMIT
`

t.test('parseNatSave reads only the nat section', async (t) => {
  const s = parseNatSave(`*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -j DROP\nCOMMIT\n${LIVE}`)
  t.same(s.chains, ['PREROUTING', 'INPUT', 'OUTPUT', 'POSTROUTING', 'ISTIO_INBOUND', 'ISTIO_IN_REDIRECT', 'ISTIO_OUTPUT', 'ISTIO_REDIRECT', 'KUBE-SERVICES'])
  t.ok(s.rules.includes('POSTROUTING -o eth0 -j MASQUERADE'))
  t.notOk(s.rules.includes('INPUT -j DROP'))
})

t.test('apply input deletes our existing jumps from built-in chains before adding them again', async (t) => {
  const req = parseInitArgs(INJECTOR_FLAGS, {})
  const input = buildApplyInput(req.capture, 4, LIVE)
  const lines = input.split('\n')
  t.same(lines.filter((l) => l.startsWith('-D ')), ['-D PREROUTING -p tcp -j ISTIO_INBOUND', '-D OUTPUT -j ISTIO_OUTPUT'])
  // Deletions come after the chain declarations and before any append, all in one COMMIT.
  t.ok(lines.indexOf('-D PREROUTING -p tcp -j ISTIO_INBOUND') > lines.indexOf(':ISTIO_OUTPUT - [0:0]'))
  t.ok(lines.indexOf('-D OUTPUT -j ISTIO_OUTPUT') < lines.findIndex((l) => l.startsWith('-A ')))
  t.notMatch(input, /KUBE-SERVICES|MASQUERADE/)
  t.equal(buildApplyInput(req.capture, 4, ''), buildRules(req.capture, 4), 'fresh table: same as the dry run')
})

t.test('clean input removes jumps, flushes every ISTIO_* chain, then deletes them', async (t) => {
  t.equal(buildCleanInput(LIVE), [
    '*nat',
    '-D PREROUTING -p tcp -j ISTIO_INBOUND',
    '-D OUTPUT -j ISTIO_OUTPUT',
    '-F ISTIO_INBOUND', '-F ISTIO_IN_REDIRECT', '-F ISTIO_OUTPUT', '-F ISTIO_REDIRECT',
    '-X ISTIO_INBOUND', '-X ISTIO_IN_REDIRECT', '-X ISTIO_OUTPUT', '-X ISTIO_REDIRECT',
    'COMMIT',
  ].join('\n') + '\n')
  t.equal(buildCleanInput('*nat\n:PREROUTING ACCEPT [0:0]\nCOMMIT\n'), null)
})

t.test('runInit feeds iptables-restore --noflush with the apply input', async (t) => {
  const calls: Array<{ file: string, args: readonly string[], input?: string }> = []
  const run = async (file: string, args: readonly string[], input?: string): Promise<CommandResult> => {
    calls.push({ file, args, input })
    return { code: 0, stdout: file === 'iptables-save' ? LIVE : '', stderr: '' }
  }
  const sink = { write: () => true }
  t.equal(await runInit(INJECTOR_FLAGS, { stdout: sink, stderr: sink, run, env: {} }), 0)
  t.same(calls.map((c) => [c.file, ...c.args]), [['iptables-save', '-t', 'nat'], ['iptables-restore', '--noflush']])
  t.equal(calls[1].input, buildApplyInput(parseInitArgs(INJECTOR_FLAGS, {}).capture, 4, LIVE))

  calls.length = 0
  t.equal(await runInit(['--clean'], { stdout: sink, stderr: sink, run, env: {} }), 0)
  t.equal(calls[1].input, buildCleanInput(LIVE))
})

t.test('runInit reports iptables failures with exit 1', async (t) => {
  let err = ''
  const run = async (file: string): Promise<CommandResult> =>
    file === 'iptables-save' ? { code: 0, stdout: '', stderr: '' } : { code: 2, stdout: '', stderr: 'iptables-restore: line 3 failed' }
  const code = await runInit([], { stdout: { write: () => true }, stderr: { write: (s: string) => { err += s } }, run, env: {} })
  t.equal(code, 1)
  t.match(err, /iptables-restore --noflush failed \(exit 2\): iptables-restore: line 3 failed/)
  const missing = await runInit([], {
    stdout: { write: () => true }, stderr: { write: () => true }, env: {},
    run: async () => ({ code: 127, stdout: '', stderr: 'spawn iptables-save ENOENT' }),
  })
  t.equal(missing, 1)
})
