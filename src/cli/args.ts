// Command-line flags, each also readable from the environment as FERRY_<FLAG> (e.g.
// --access-log-format -> FERRY_ACCESS_LOG_FORMAT) so a container can be configured with env.

export interface FlagSpec {
  /** Flag name without dashes. */
  name: string
  /** Repeatable flags collect every value (`--config a --config b`; env: comma separated). */
  repeat?: boolean
  /** Boolean flags take no value. */
  boolean?: boolean
  default?: string
  help: string
}

export type ParsedFlags = Map<string, string[]>

export class UsageError extends Error {}

export function envName (flag: string): string {
  return `FERRY_${flag.toUpperCase().replace(/-/g, '_')}`
}

export function parseFlags (argv: readonly string[], specs: readonly FlagSpec[], env: NodeJS.ProcessEnv = process.env): ParsedFlags {
  const byName = new Map(specs.map(s => [s.name, s]))
  const out: ParsedFlags = new Map()
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]
    if (!arg.startsWith('--')) throw new UsageError(`unexpected argument ${arg}`)
    const eq = arg.indexOf('=')
    const name = arg.slice(2, eq < 0 ? undefined : eq)
    const spec = byName.get(name)
    if (spec === undefined) throw new UsageError(`unknown flag --${name}`)
    let value: string
    if (spec.boolean === true) {
      value = eq < 0 ? 'true' : arg.slice(eq + 1)
    } else if (eq >= 0) {
      value = arg.slice(eq + 1)
    } else {
      if (i + 1 >= argv.length) throw new UsageError(`--${name} needs a value`)
      value = argv[++i]
    }
    const list = out.get(name) ?? []
    if (spec.repeat !== true) list.length = 0
    list.push(value)
    out.set(name, list)
  }
  for (const spec of specs) {
    if (out.has(spec.name)) continue
    const fromEnv = env[envName(spec.name)]
    if (fromEnv !== undefined && fromEnv !== '') {
      out.set(spec.name, spec.repeat === true ? fromEnv.split(',').map(s => s.trim()).filter(Boolean) : [fromEnv])
    } else if (spec.default !== undefined) {
      out.set(spec.name, [spec.default])
    }
  }
  return out
}

export function one (flags: ParsedFlags, name: string): string | undefined {
  return flags.get(name)?.[0]
}

/** `k=v,k=v` into a record. */
export function parseLabels (text: string | undefined): Record<string, string> {
  const out: Record<string, string> = {}
  if (text === undefined || text.trim() === '') return out
  for (const pair of text.split(',')) {
    const eq = pair.indexOf('=')
    if (eq <= 0) throw new UsageError(`--labels wants k=v pairs, got "${pair}"`)
    out[pair.slice(0, eq).trim()] = pair.slice(eq + 1).trim()
  }
  return out
}

export function usage (command: string, specs: readonly FlagSpec[]): string {
  const lines = specs.map(s => {
    const flag = s.boolean === true ? `--${s.name}` : `--${s.name} VALUE`
    const dflt = s.default !== undefined ? ` (default ${s.default})` : ''
    return `  ${flag.padEnd(34)} ${s.help}${dflt} [env ${envName(s.name)}]`
  })
  return `usage: ferry ${command} [flags]\n${lines.join('\n')}\n`
}

/**
 * A command's flags, or the exit code the command ends with instead: 2 after a usage error
 * (printed on stderr with the usage), 0 after `--help` (the usage on stdout).
 */
export function commandFlags (command: string, argv: readonly string[], specs: readonly FlagSpec[]): ParsedFlags | number {
  let flags: ParsedFlags
  try {
    flags = parseFlags(argv, specs)
  } catch (err) {
    if (err instanceof UsageError) {
      process.stderr.write(`ferry ${command}: ${err.message}\n${usage(command, specs)}`)
      return 2
    }
    throw err
  }
  if (one(flags, 'help') === 'true') {
    process.stdout.write(usage(command, specs))
    return 0
  }
  return flags
}
