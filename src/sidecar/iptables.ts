// Runs iptables-save / iptables-restore. Kept apart from the rule text so that the only code needing
// root and a kernel is this thin shell, and tests can replace it.

import { spawn } from 'node:child_process'
import type { IpFamily } from './iptables-rules'

export interface CommandResult {
  readonly code: number
  readonly stdout: string
  readonly stderr: string
}

/** Runs one binary with optional stdin. Never rejects for a non-zero exit; the caller reads `code`. */
export type CommandRunner = (file: string, args: readonly string[], input?: string) => Promise<CommandResult>

export const spawnCommand: CommandRunner = (file, args, input) => new Promise((resolve) => {
  const child = spawn(file, [...args], { stdio: ['pipe', 'pipe', 'pipe'] })
  let stdout = ''
  let stderr = ''
  child.stdout.setEncoding('utf8').on('data', (d: string) => { stdout += d })
  child.stderr.setEncoding('utf8').on('data', (d: string) => { stderr += d })
  // ENOENT (binary missing) arrives here, not as an exit code; 127 is what a shell would report.
  child.on('error', (err: NodeJS.ErrnoException) => resolve({ code: err.code === 'ENOENT' ? 127 : 1, stdout, stderr: stderr + err.message }))
  child.on('close', (code) => resolve({ code: code ?? 1, stdout, stderr }))
  // A restore that fails early closes stdin; the exit code already tells the story, so ignore EPIPE.
  child.stdin.on('error', () => {})
  child.stdin.end(input ?? '')
})

export class IptablesError extends Error {
  readonly code = 'FERRY_INIT_IPTABLES_FAILED'
  constructor(message: string) {
    super(message)
    this.name = 'IptablesError'
  }
}

/** The nat table for one address family, through the binaries on PATH (nft or legacy, whichever is installed). */
export class NatTable {
  readonly family: IpFamily
  private readonly run: CommandRunner
  private readonly save: string
  private readonly restore: string

  constructor(family: IpFamily, run: CommandRunner = spawnCommand) {
    this.family = family
    this.run = run
    this.save = family === 4 ? 'iptables-save' : 'ip6tables-save'
    this.restore = family === 4 ? 'iptables-restore' : 'ip6tables-restore'
  }

  async read(): Promise<string> {
    const r = await this.run(this.save, ['-t', 'nat'])
    if (r.code !== 0) throw new IptablesError(`${this.save} -t nat failed (exit ${r.code}): ${r.stderr.trim()}`)
    return r.stdout
  }

  /** --noflush: iptables-restore would otherwise wipe every chain of the table, including other people's. */
  async apply(input: string): Promise<void> {
    const r = await this.run(this.restore, ['--noflush'], input)
    if (r.code !== 0) throw new IptablesError(`${this.restore} --noflush failed (exit ${r.code}): ${r.stderr.trim()}\ninput was:\n${input}`)
  }
}
