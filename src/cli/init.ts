// `ferry init`: what istio-init (istio-iptables) does for an Envoy sidecar, for a Ferry sidecar.
// Runs once per pod network namespace, as root (or with CAP_NET_ADMIN), before the app starts.

import {
  buildApplyInput, buildCleanInput, buildRules, CaptureOptionsError, INIT_USAGE, parseInitArgs,
  type InitRequest, type IpFamily,
} from '../sidecar/iptables-rules'
import { IptablesError, NatTable, spawnCommand, type CommandRunner } from '../sidecar/iptables'

export interface InitIO {
  readonly stdout: { write(chunk: string): unknown }
  readonly stderr: { write(chunk: string): unknown }
  /** Replaces the iptables binaries; tests use it to see what would run without root. */
  readonly run?: CommandRunner
  readonly env?: NodeJS.ProcessEnv
}

const EXIT_OK = 0
const EXIT_FAILED = 1
const EXIT_USAGE = 2

/** Exit code: 0 done, 1 iptables failed, 2 bad flags. `argv` excludes the word `init`. */
export async function runInit(argv: string[], io: InitIO = { stdout: process.stdout, stderr: process.stderr }): Promise<number> {
  let request: InitRequest
  try {
    request = parseInitArgs(argv, io.env ?? process.env)
  } catch (err) {
    if (!(err instanceof CaptureOptionsError)) throw err
    io.stderr.write(`ferry init: ${err.message}\n`)
    if (err.code === 'FERRY_INIT_BAD_FLAG') io.stderr.write(`Run 'ferry init --help' for the flags.\n`)
    return EXIT_USAGE
  }
  if (request.help) {
    io.stdout.write(INIT_USAGE)
    return EXIT_OK
  }

  const families: IpFamily[] = request.dualStack ? [4, 6] : [4]

  if (request.dryRun) {
    for (const family of families) {
      if (request.clean) {
        io.stdout.write(`# ${family === 4 ? 'iptables' : 'ip6tables'}: --clean removes every ISTIO_* chain in the nat table and the jumps to them\n`)
        continue
      }
      // v4 output is exactly what would be restored, so it can be piped into iptables-restore by hand.
      if (family === 6) io.stdout.write('# ip6tables-restore --noflush\n')
      io.stdout.write(buildRules(request.capture, family))
    }
    return EXIT_OK
  }

  const run = io.run ?? spawnCommand
  try {
    for (const family of families) {
      const table = new NatTable(family, run)
      const current = await table.read()
      if (request.clean) {
        const input = buildCleanInput(current)
        if (input !== null) await table.apply(input)
        io.stderr.write(`ferry init: ${input === null ? 'nothing to remove' : 'removed Istio capture rules'} (IPv${family}, nat table)\n`)
      } else {
        await table.apply(buildApplyInput(request.capture, family, current))
        io.stderr.write(`ferry init: installed Istio capture rules (IPv${family}, nat table)\n`)
      }
    }
  } catch (err) {
    if (!(err instanceof IptablesError)) throw err
    io.stderr.write(`ferry init: ${err.message}\n`)
    return EXIT_FAILED
  }
  return EXIT_OK
}
