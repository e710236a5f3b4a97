// The nat-table rules of istio-iptables (tools/istio-iptables/pkg/capture/run.go), REDIRECT mode only.
//
// Everything here is pure: options in, iptables-restore text out. Running the binaries lives in
// ./iptables.ts so the rule text can be checked against Istio's golden files without root.
//
// Where Ferry differs from Istio:
// - Chains are declared with `:CHAIN - [0:0]` rather than `-N CHAIN`. Under `iptables-restore --noflush`
//   a declaration creates the chain or flushes it if it exists, so applying twice rebuilds our chains
//   instead of failing; Istio gets the same effect with a separate drift check and cleanup pass.
// - Jumps from chains we do not own (PREROUTING, OUTPUT) cannot be flushed, so the apply input deletes
//   the jumps that `iptables-save` shows and appends ours again, inside the same atomic commit.
// - DNS capture, owner-group filters, TPROXY, excluded/virtual interfaces and drop-invalid are not
//   implemented; the flags that would turn them on are rejected rather than silently ignored.

import { BlockList, isIP } from 'node:net'
import { parseArgs } from 'node:util'

export type IpFamily = 4 | 6

/** A list of CIDRs, or '*' for everything. An empty list means "none". */
export type CidrSet = { readonly wildcard: true } | { readonly wildcard: false; readonly cidrs: readonly Cidr[] }

export interface Cidr {
  /** As the user wrote it; iptables accepts host bits, and Istio passes the text through too. */
  readonly text: string
  readonly family: IpFamily
  readonly loopback: boolean
}

/** A port list, or '*' for every port. Entries are `N` or an iptables range `N:M`. */
export type PortSet = { readonly wildcard: true } | { readonly wildcard: false; readonly ports: readonly string[] }

export interface CaptureOptions {
  /** -p: where outbound TCP is redirected (Envoy's virtualOutbound listener). */
  readonly envoyPort: number
  /** -z: where inbound TCP is redirected (virtualInbound). */
  readonly inboundCapturePort: number
  /** -e: the HBONE tunnel port, never captured so mTLS tunnels reach the proxy untouched. */
  readonly inboundTunnelPort: number
  /** -u: owners whose traffic is the proxy's own and must not loop back into it. */
  readonly proxyUids: readonly string[]
  /** -g */
  readonly proxyGids: readonly string[]
  /** -b */
  readonly inboundPorts: PortSet
  /** -d: only honoured when -b is '*', as in Istio. */
  readonly inboundPortsExclude: readonly string[]
  /** -i */
  readonly outboundCidrs: CidrSet
  /** -x: never '*' (Istio rejects it: excluding everything is "-i ''"). */
  readonly outboundCidrsExclude: readonly Cidr[]
  /** -q */
  readonly outboundPortsInclude: readonly string[]
  /** -o */
  readonly outboundPortsExclude: readonly string[]
  /** ISTIO_OUTBOUND_IPV4_LOOPBACK_CIDR: what counts as "the app talking to itself" on lo. */
  readonly hostIPv4LoopbackCidr: string
}

export const ISTIO_INBOUND = 'ISTIO_INBOUND'
export const ISTIO_IN_REDIRECT = 'ISTIO_IN_REDIRECT'
export const ISTIO_REDIRECT = 'ISTIO_REDIRECT'
export const ISTIO_OUTPUT = 'ISTIO_OUTPUT'

/** Istio names every chain it creates ISTIO_*; --clean removes all of them so a real istio-init is cleaned too. */
export const ISTIO_CHAIN_PREFIX = 'ISTIO_'

/** 127.0.0.6 (::6) is the source the proxy binds when it forwards inbound traffic to the app. */
const INBOUND_PASSTHROUGH_SOURCE: Record<IpFamily, string> = { 4: '127.0.0.6/32', 6: '::6/128' }

export const DEFAULT_CAPTURE_OPTIONS: CaptureOptions = {
  envoyPort: 15001,
  inboundCapturePort: 15006,
  inboundTunnelPort: 15008,
  proxyUids: ['1337'],
  proxyGids: ['1337'],
  inboundPorts: { wildcard: true },
  inboundPortsExclude: [],
  outboundCidrs: { wildcard: true },
  outboundCidrsExclude: [],
  outboundPortsInclude: [],
  outboundPortsExclude: [],
  hostIPv4LoopbackCidr: '127.0.0.1/32',
}

export type CaptureOptionsErrorCode = 'FERRY_INIT_BAD_FLAG' | 'FERRY_INIT_UNSUPPORTED_MODE'

export class CaptureOptionsError extends Error {
  readonly code: CaptureOptionsErrorCode
  constructor(code: CaptureOptionsErrorCode, message: string) {
    super(message)
    this.name = 'CaptureOptionsError'
    this.code = code
  }
}

/** What `ferry init` was asked to do, besides the rules themselves. */
export interface InitRequest {
  readonly capture: CaptureOptions
  readonly dryRun: boolean
  readonly clean: boolean
  /** Also program ip6tables. Istio decides from the pod's addresses; Ferry asks, so runs are predictable. */
  readonly dualStack: boolean
  readonly help: boolean
}

export const INIT_USAGE = `Usage: ferry init [flags]

Sets up the nat-table rules that send a pod's TCP traffic through the sidecar (istio-iptables, REDIRECT mode).

  -p, --envoy-port PORT                          outbound capture port (15001)
  -z, --inbound-capture-port PORT                inbound capture port (15006)
  -e, --inbound-tunnel-port PORT                 inbound tunnel port, never captured (15008)
  -u, --proxy-uid UID[,UID]                      the proxy's uid, its traffic is not captured (1337)
  -g, --proxy-gid GID[,GID]                      the proxy's gid (same as --proxy-uid)
  -m, --istio-inbound-interception-mode MODE     REDIRECT (TPROXY is not supported)
  -b, --istio-inbound-ports PORTS                inbound ports to capture, '*' for all, '' for none (*)
  -d, --istio-local-exclude-ports PORTS          inbound ports not to capture when -b is '*'
  -i, --istio-service-cidr CIDRS                 outbound destinations to capture, '*' for all, '' for none (*)
  -x, --istio-service-exclude-cidr CIDRS         outbound destinations not to capture
  -q, --istio-include-outbound-ports PORTS       outbound ports to capture whatever the destination
  -o, --istio-local-outbound-ports-exclude PORTS outbound ports not to capture
      --dual-stack                               also program ip6tables
  -n, --dry-run                                  print the iptables-restore input and change nothing
      --clean, --cleanup-only                    remove the ISTIO_* chains and the jumps to them
  -h, --help
`

/**
 * Parses `ferry init` flags with Istio's names and defaults. Throws CaptureOptionsError with a message
 * fit for the terminal; every value is validated here so the rule builder can trust its input.
 */
export function parseInitArgs(argv: readonly string[], env: NodeJS.ProcessEnv = process.env): InitRequest {
  let values: Record<string, string | boolean | undefined>
  try {
    values = parseArgs({
      args: [...argv],
      strict: true,
      allowPositionals: false,
      options: {
        'envoy-port': { type: 'string', short: 'p' },
        'inbound-capture-port': { type: 'string', short: 'z' },
        'inbound-tunnel-port': { type: 'string', short: 'e' },
        'proxy-uid': { type: 'string', short: 'u' },
        'proxy-gid': { type: 'string', short: 'g' },
        'istio-inbound-interception-mode': { type: 'string', short: 'm' },
        'istio-service-cidr': { type: 'string', short: 'i' },
        'istio-service-exclude-cidr': { type: 'string', short: 'x' },
        'istio-inbound-ports': { type: 'string', short: 'b' },
        'istio-local-exclude-ports': { type: 'string', short: 'd' },
        'istio-local-outbound-ports-exclude': { type: 'string', short: 'o' },
        'istio-include-outbound-ports': { type: 'string', short: 'q' },
        // Istio's own spelling of -q; kept so injector-style command lines work unchanged.
        'istio-outbound-ports': { type: 'string' },
        'dual-stack': { type: 'boolean' },
        'dry-run': { type: 'boolean', short: 'n' },
        clean: { type: 'boolean' },
        'cleanup-only': { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
    }).values
  } catch (err) {
    throw new CaptureOptionsError('FERRY_INIT_BAD_FLAG', (err as Error).message)
  }
  const str = (name: string): string | undefined => {
    const v = values[name]
    return typeof v === 'string' ? v : undefined
  }

  const mode = (str('istio-inbound-interception-mode') ?? 'REDIRECT').trim()
  if (mode === 'TPROXY') {
    throw new CaptureOptionsError('FERRY_INIT_UNSUPPORTED_MODE',
      'inbound interception mode TPROXY is not supported: Ferry only implements REDIRECT (nat table). ' +
      'Drop -m TPROXY (or set sidecar.istio.io/interceptionMode: REDIRECT) to use Ferry as the sidecar.')
  }
  // Istio treats an empty mode as REDIRECT.
  if (mode !== 'REDIRECT' && mode !== '') {
    throw new CaptureOptionsError('FERRY_INIT_BAD_FLAG',
      `--istio-inbound-interception-mode: unknown mode ${JSON.stringify(mode)} (expected REDIRECT)`)
  }

  const d = DEFAULT_CAPTURE_OPTIONS
  const proxyUids = parseOwners('--proxy-uid', str('proxy-uid')) ?? d.proxyUids
  const outboundCidrsExclude = parseCidrSet('--istio-service-exclude-cidr', str('istio-service-exclude-cidr') ?? '')
  if (outboundCidrsExclude.wildcard) {
    throw new CaptureOptionsError('FERRY_INIT_BAD_FLAG',
      "--istio-service-exclude-cidr: '*' is not allowed; use --istio-service-cidr '' to capture no outbound traffic")
  }
  const capture: CaptureOptions = {
    envoyPort: parsePort('--envoy-port', str('envoy-port')) ?? d.envoyPort,
    inboundCapturePort: parsePort('--inbound-capture-port', str('inbound-capture-port')) ?? d.inboundCapturePort,
    inboundTunnelPort: parsePort('--inbound-tunnel-port', str('inbound-tunnel-port')) ?? d.inboundTunnelPort,
    proxyUids,
    // Istio: "same default value as -u param".
    proxyGids: parseOwners('--proxy-gid', str('proxy-gid')) ?? proxyUids,
    inboundPorts: parsePortSet('--istio-inbound-ports', str('istio-inbound-ports') ?? '*'),
    inboundPortsExclude: parsePortList('--istio-local-exclude-ports', str('istio-local-exclude-ports') ?? ''),
    outboundCidrs: parseCidrSet('--istio-service-cidr', str('istio-service-cidr') ?? '*'),
    outboundCidrsExclude: outboundCidrsExclude.cidrs,
    outboundPortsInclude: parsePortList('--istio-include-outbound-ports',
      str('istio-include-outbound-ports') ?? str('istio-outbound-ports') ?? ''),
    outboundPortsExclude: parsePortList('--istio-local-outbound-ports-exclude',
      str('istio-local-outbound-ports-exclude') ?? ''),
    hostIPv4LoopbackCidr: parseLoopbackCidr(env.ISTIO_OUTBOUND_IPV4_LOOPBACK_CIDR),
  }
  return {
    capture,
    dryRun: values['dry-run'] === true,
    clean: values.clean === true || values['cleanup-only'] === true,
    dualStack: values['dual-stack'] === true,
    help: values.help === true,
  }
}

/** The iptables-restore input (nat table only) that installs capture for one address family. */
export function buildRules(opts: CaptureOptions, family: IpFamily = 4): string {
  return renderRestore(buildRuleSet(opts, family), [])
}

/**
 * The input that turns the live nat table (`iptables-save -t nat` text) into ours: our chains are
 * flushed by their declarations, and every jump into an ISTIO_* chain from a chain we do not own is
 * deleted before ours are appended, so re-running never duplicates PREROUTING/OUTPUT jumps.
 */
export function buildApplyInput(opts: CaptureOptions, family: IpFamily, currentNat: string): string {
  const ruleSet = buildRuleSet(opts, family)
  return renderRestore(ruleSet, foreignJumpsToIstio(currentNat).map((r) => `-D ${r}`))
}

/**
 * The input that removes every ISTIO_* chain from the nat table and the jumps into them, or null when
 * there is nothing to remove (iptables-restore rejects -X of a chain that does not exist).
 */
export function buildCleanInput(currentNat: string): string | null {
  const chains = parseNatSave(currentNat).chains.filter(isIstioChain)
  const jumps = foreignJumpsToIstio(currentNat)
  if (chains.length === 0 && jumps.length === 0) return null
  // Flush all before deleting any: ISTIO_OUTPUT jumps to ISTIO_REDIRECT, and -X refuses a referenced chain.
  const lines = ['*nat', ...jumps.map((r) => `-D ${r}`), ...chains.map((c) => `-F ${c}`), ...chains.map((c) => `-X ${c}`), 'COMMIT']
  return lines.join('\n') + '\n'
}

interface Rule {
  readonly chain: string
  readonly spec: readonly string[]
}

interface RuleSet {
  /** User chains in the order Istio's builder would emit `-N` for them. */
  readonly chains: readonly string[]
  readonly rules: readonly Rule[]
}

/** Mirrors the order of appends in run.go's Run(), so rule text lines up with Istio's golden files. */
function buildRuleSet(o: CaptureOptions, family: IpFamily): RuleSet {
  const rules: Rule[] = []
  const add = (chain: string, ...spec: string[]): void => { rules.push({ chain, spec }) }
  const loopback = family === 4 ? o.hostIPv4LoopbackCidr : '::1/128'
  const tunnel = String(o.inboundTunnelPort)

  add(ISTIO_INBOUND, '-p', 'tcp', '--dport', tunnel, '-j', 'RETURN')
  add(ISTIO_REDIRECT, '-p', 'tcp', '-j', 'REDIRECT', '--to-ports', String(o.envoyPort))
  add(ISTIO_IN_REDIRECT, '-p', 'tcp', '-j', 'REDIRECT', '--to-ports', String(o.inboundCapturePort))

  // An empty inbound list means "capture no inbound", so not even the PREROUTING jump is installed.
  const inbound = o.inboundPorts
  if (inbound.wildcard || inbound.ports.length > 0) {
    add('PREROUTING', '-p', 'tcp', '-j', ISTIO_INBOUND)
    if (inbound.wildcard) {
      for (const port of o.inboundPortsExclude) add(ISTIO_INBOUND, '-p', 'tcp', '--dport', port, '-j', 'RETURN')
      add(ISTIO_INBOUND, '-p', 'tcp', '-j', ISTIO_IN_REDIRECT)
    } else {
      for (const port of inbound.ports) add(ISTIO_INBOUND, '-p', 'tcp', '--dport', port, '-j', ISTIO_IN_REDIRECT)
    }
  }

  // No `-p tcp` on this jump: ISTIO_OUTPUT also RETURNs UDP for excluded ports (Istio's DNS capture needs it).
  add('OUTPUT', '-j', ISTIO_OUTPUT)

  // Port exclusions come first so they win over the loopback-to-self redirect below.
  for (const port of o.outboundPortsExclude) {
    add(ISTIO_OUTPUT, '-p', 'tcp', '--dport', port, '-j', 'RETURN')
    add(ISTIO_OUTPUT, '-p', 'udp', '--dport', port, '-j', 'RETURN')
  }

  // The proxy forwards inbound traffic to the app from 127.0.0.6; capturing it again would loop.
  add(ISTIO_OUTPUT, '-o', 'lo', '-s', INBOUND_PASSTHROUGH_SOURCE[family], '-j', 'RETURN')

  // If the user asked for loopback destinations to be captured, app-to-self traffic on lo must not RETURN.
  const includesLoopback = !o.outboundCidrs.wildcard && o.outboundCidrs.cidrs.some((c) => c.loopback)
  for (const [match, owners] of [['--uid-owner', o.proxyUids], ['--gid-owner', o.proxyGids]] as const) {
    for (const owner of owners) {
      // The proxy calling a service VIP that resolves to this pod (appN -> proxy -> proxy -> appN) goes
      // out on lo to the pod IP: send it to the inbound side instead of straight to the app.
      add(ISTIO_OUTPUT, '-o', 'lo', '!', '-d', loopback, '-p', 'tcp', '!', '--dport', tunnel,
        '-m', 'owner', match, owner, '-j', ISTIO_IN_REDIRECT)
      // The app calling itself by pod IP is not mesh traffic.
      if (!includesLoopback) add(ISTIO_OUTPUT, '-o', 'lo', '-m', 'owner', '!', match, owner, '-j', 'RETURN')
      // Everything else the proxy sends goes straight out, or it would be captured forever.
      add(ISTIO_OUTPUT, '-m', 'owner', match, owner, '-j', 'RETURN')
    }
  }

  // Apps that talk to localhost know they are not talking to the mesh.
  add(ISTIO_OUTPUT, '-d', loopback, '-j', 'RETURN')
  for (const cidr of o.outboundCidrsExclude) {
    if (cidr.family === family) add(ISTIO_OUTPUT, '-d', cidr.text, '-j', 'RETURN')
  }
  for (const port of o.outboundPortsInclude) add(ISTIO_OUTPUT, '-p', 'tcp', '--dport', port, '-j', ISTIO_REDIRECT)
  if (o.outboundCidrs.wildcard) {
    add(ISTIO_OUTPUT, '-j', ISTIO_REDIRECT)
  } else {
    for (const cidr of o.outboundCidrs.cidrs) {
      if (cidr.family === family) add(ISTIO_OUTPUT, '-d', cidr.text, '-j', ISTIO_REDIRECT)
    }
  }

  return { chains: chainsOf(rules), rules }
}

function chainsOf(rules: readonly Rule[]): string[] {
  const seen = new Set<string>()
  // Istio's builder declares the chains that hold rules first, then chains that are only jumped to.
  for (const r of rules) if (isIstioChain(r.chain)) seen.add(r.chain)
  for (const r of rules) {
    const target = r.spec[r.spec.length - 1]
    if (r.spec[r.spec.length - 2] === '-j' && isIstioChain(target)) seen.add(target)
  }
  return [...seen]
}

function renderRestore(ruleSet: RuleSet, preamble: readonly string[]): string {
  const lines = ['*nat']
  for (const chain of ruleSet.chains) lines.push(`:${chain} - [0:0]`)
  lines.push(...preamble)
  for (const r of ruleSet.rules) lines.push(`-A ${r.chain} ${r.spec.join(' ')}`)
  lines.push('COMMIT')
  return lines.join('\n') + '\n'
}

function isIstioChain(chain: string): boolean {
  return chain.startsWith(ISTIO_CHAIN_PREFIX)
}

interface NatSave {
  readonly chains: readonly string[]
  /** Rule lines without the leading `-A `, e.g. `PREROUTING -p tcp -j ISTIO_INBOUND`. */
  readonly rules: readonly string[]
}

/** Reads the *nat section of iptables-save output. */
export function parseNatSave(text: string): NatSave {
  const chains: string[] = []
  const rules: string[] = []
  let inNat = false
  for (const raw of text.split('\n')) {
    const line = raw.trim()
    if (line.startsWith('*')) { inNat = line === '*nat'; continue }
    if (!inNat) continue
    if (line.startsWith(':')) chains.push(line.slice(1).split(' ')[0])
    else if (line.startsWith('-A ')) rules.push(line.slice(3))
  }
  return { chains, rules }
}

/** Rules in chains we do not own that jump into one we do: the only rules a chain flush cannot reach. */
function foreignJumpsToIstio(currentNat: string): string[] {
  return parseNatSave(currentNat).rules.filter((rule) => {
    const words = rule.split(/\s+/)
    if (isIstioChain(words[0])) return false
    const j = words.lastIndexOf('-j')
    return j > 0 && j + 1 < words.length && isIstioChain(words[j + 1])
  })
}

// Istio splits on commas and skips empty entries ("6000,7000," is accepted).
function splitList(text: string): string[] {
  return text.split(',').map((s) => s.trim()).filter((s) => s.length > 0)
}

function parsePort(flag: string, text: string | undefined): number | undefined {
  if (text === undefined) return undefined
  const n = /^\d{1,5}$/.test(text.trim()) ? Number(text.trim()) : NaN
  if (!(n >= 1 && n <= 65535)) throw new CaptureOptionsError('FERRY_INIT_BAD_FLAG', `${flag}: ${JSON.stringify(text)} is not a port (1-65535)`)
  return n
}

function parsePortList(flag: string, text: string): string[] {
  return splitList(text).map((entry) => {
    const parts = entry.split(':')
    if (parts.length > 2) throw new CaptureOptionsError('FERRY_INIT_BAD_FLAG', `${flag}: ${JSON.stringify(entry)} is not a port or port range`)
    const nums = parts.map((p) => parsePort(flag, p) as number)
    if (nums.length === 2 && nums[0] > nums[1]) throw new CaptureOptionsError('FERRY_INIT_BAD_FLAG', `${flag}: range ${entry} is reversed`)
    return nums.join(':')
  })
}

function parsePortSet(flag: string, text: string): PortSet {
  if (text.trim() === '*') return { wildcard: true }
  return { wildcard: false, ports: parsePortList(flag, text) }
}

function parseOwners(flag: string, text: string | undefined): string[] | undefined {
  if (text === undefined) return undefined
  const owners = splitList(text)
  // iptables' owner match takes numeric ids or names; anything else would break iptables-restore's parser.
  for (const o of owners) {
    if (!/^[A-Za-z0-9_][A-Za-z0-9_.-]*$/.test(o)) throw new CaptureOptionsError('FERRY_INIT_BAD_FLAG', `${flag}: ${JSON.stringify(o)} is not a user or group`)
  }
  if (owners.length === 0) throw new CaptureOptionsError('FERRY_INIT_BAD_FLAG', `${flag}: must name at least one owner, or the proxy's own traffic would be captured`)
  return owners
}

function parseCidr(flag: string, text: string): Cidr {
  const slash = text.indexOf('/')
  const addr = slash < 0 ? text : text.slice(0, slash)
  const family = isIP(addr)
  const bits = slash < 0 ? NaN : Number(text.slice(slash + 1))
  if (family === 0 || !/^\d+$/.test(text.slice(slash + 1)) || bits > (family === 4 ? 32 : 128)) {
    throw new CaptureOptionsError('FERRY_INIT_BAD_FLAG', `${flag}: ${JSON.stringify(text)} is not a CIDR (like 10.96.0.0/12)`)
  }
  // Go's netip.Addr.IsLoopback, judged on the address alone as Istio does: 127.0.0.0/8 or ::1.
  const loopback = LOOPBACK.check(addr, family === 4 ? 'ipv4' : 'ipv6')
  return { text, family: family as IpFamily, loopback }
}

const LOOPBACK = new BlockList()
LOOPBACK.addSubnet('127.0.0.0', 8, 'ipv4')
LOOPBACK.addAddress('::1', 'ipv6')

function parseCidrSet(flag: string, text: string): CidrSet {
  if (text.trim() === '*') return { wildcard: true }
  return { wildcard: false, cidrs: splitList(text).map((c) => parseCidr(flag, c)) }
}

function parseLoopbackCidr(text: string | undefined): string {
  if (text === undefined || text === '') return DEFAULT_CAPTURE_OPTIONS.hostIPv4LoopbackCidr
  const cidr = parseCidr('ISTIO_OUTBOUND_IPV4_LOOPBACK_CIDR', text)
  // Istio refuses anything outside 127/8: a wider range would stop capturing real outbound traffic.
  if (cidr.family !== 4 || !cidr.loopback || Number(text.split('/')[1]) < 8) {
    throw new CaptureOptionsError('FERRY_INIT_BAD_FLAG', `ISTIO_OUTBOUND_IPV4_LOOPBACK_CIDR: ${text} is not inside 127.0.0.0/8`)
  }
  return text
}
