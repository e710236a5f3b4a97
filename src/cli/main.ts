// `ferry <command>`: run, validate, init.

import { runCommand } from './run'
import { validateCommand } from './validate'

const HELP = `usage: ferry <command> [flags]
commands:
  run       run the proxy (gateway or sidecar role)
  validate  check Istio config files the way Ferry loads them
  init      set up iptables capture for the sidecar (istio-iptables compatible)
run "ferry <command> --help" for the flags of a command
`

export async function main (argv: string[]): Promise<number> {
  const [command, ...rest] = argv
  switch (command) {
    case 'run': return await runCommand(rest)
    case 'validate': return validateCommand(rest)
    case 'init': {
      const { runInit } = await import('./init')
      return await runInit(rest)
    }
    case undefined:
    case 'help':
    case '--help':
    case '-h':
      process.stdout.write(HELP)
      return command === undefined ? 2 : 0
    default:
      process.stderr.write(`ferry: unknown command ${command}\n${HELP}`)
      return 2
  }
}
