// `ferry validate`: the same checks `run` makes at start-up, without starting anything.
// Exit 0 when valid (warnings are printed but do not fail), 1 with every error otherwise.

import { loadConfig, formatDiagnostic } from '../config/load'
import { commandFlags, one, usage, type FlagSpec } from './args'

const FLAGS: FlagSpec[] = [
  { name: 'config', repeat: true, help: 'Istio YAML/JSON file or directory (repeatable)' },
  { name: 'namespace', default: 'default', help: 'namespace for resources that name none' },
  { name: 'help', boolean: true, help: 'show this help' }
]

export function validateCommand (argv: string[]): number {
  const flags = commandFlags('validate', argv, FLAGS)
  if (typeof flags === 'number') return flags
  const paths = flags.get('config') ?? []
  if (paths.length === 0) {
    process.stderr.write(`ferry validate: --config is required\n${usage('validate', FLAGS)}`)
    return 2
  }
  const result = loadConfig(paths, { namespace: one(flags, 'namespace') ?? 'default' })
  for (const d of result.diagnostics) process.stdout.write(formatDiagnostic(d) + '\n')
  const errors = result.diagnostics.filter(d => d.severity === 'error').length
  const warnings = result.diagnostics.length - errors
  const c = result.config
  const resources = c.gateways.length + c.virtualServices.length + c.destinationRules.length + c.serviceEntries.length + c.workloadEntries.length
  process.stdout.write(`${errors === 0 ? 'valid' : 'invalid'}: ${resources} resource(s) in ${result.files.length} file(s), ${errors} error(s), ${warnings} warning(s)\n`)
  return errors === 0 ? 0 : 1
}
