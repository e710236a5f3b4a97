// The CLI surface the image and the Kubernetes manifests depend on (bin/ferry.js). It is written
// down here, not read from the CLI, because it is a contract: if the CLI renames a flag, these
// tests fail and the manifests get updated in the same change.

import { existsSync } from 'node:fs'
import { join } from 'node:path'

export const ROOT = join(__dirname, '..', '..', '..')
export const CLI = join(ROOT, 'bin', 'ferry.js')

export const SUBCOMMANDS = ['run', 'init', 'validate'] as const

/** `ferry run` flags that take a value (each also readable from FERRY_<UPPER_SNAKE>). */
export const RUN_FLAGS = [
  'config', 'role', 'namespace', 'labels', 'admin', 'access-log', 'access-log-format', 'log-level', 'zipkin',
  'sampling', 'concurrency', 'outbound-port', 'inbound-port', 'health-port', 'prometheus-port', 'drain-duration',
  'outbound-traffic-policy'
] as const

export const ROLES = ['sidecar', 'gateway'] as const

/** What istioctl kube-inject passes to istio-iptables, with Ferry's gid added. */
export const INIT_ARGS = ['init', '-p', '15001', '-z', '15006', '-u', '1337', '-g', '1337', '-m', 'REDIRECT', '-i', '*', '-x', '', '-b', '*', '-d', '15090,15021,15020']

export const PROXY_UID = 1337
export const HEALTH_PORT = 15021
export const PROMETHEUS_PORT = 15090
/** Ports Ferry itself binds in a sidecar pod; an app container must not use them. */
export const RESERVED_PORTS = [15000, 15001, 15006, 15020, 15021, 15090]

export function cliExists (): boolean {
  return existsSync(CLI)
}

/** `--flag value` / `--flag=value` pairs of a `run` command line; positional words are returned apart. */
export function parseRunArgs (argv: readonly string[]): { flags: Map<string, string>, positionals: string[], problems: string[] } {
  const flags = new Map<string, string>()
  const positionals: string[] = []
  const problems: string[] = []
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]
    if (!a.startsWith('--')) { positionals.push(a); continue }
    const eq = a.indexOf('=')
    const name = eq >= 0 ? a.slice(2, eq) : a.slice(2)
    const value = eq >= 0 ? a.slice(eq + 1) : argv[++i]
    if (!(RUN_FLAGS as readonly string[]).includes(name)) problems.push(`unknown flag --${name}`)
    if (value === undefined) problems.push(`--${name} has no value`)
    else if (flags.has(name) && name !== 'config') problems.push(`--${name} given twice`)
    else flags.set(name, value)
  }
  return { flags, positionals, problems }
}
