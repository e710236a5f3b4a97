// Just enough of the Dockerfile and .dockerignore formats to test docker/Dockerfile without a
// Docker engine: line continuations, comments and parser directives, exec (JSON) and shell forms,
// `--flag=value` options, global ARG defaults substituted into FROM, and stages.

import picomatch from 'picomatch'
import { posix } from 'node:path'

export interface Instruction {
  keyword: string
  /** The text after the keyword and its `--flags`, continuations joined. */
  args: string
  /** `--from=build` → { from: 'build' } */
  flags: Record<string, string>
  /** Parsed exec form (`["node", "x"]`), when the arguments are a JSON array of strings. */
  exec?: string[]
  line: number
}

export interface Stage {
  /** FROM's image with global ARG defaults substituted. */
  image: string
  name?: string
  instructions: Instruction[]
  line: number
}

export interface Dockerfile {
  directives: Record<string, string>
  /** Global ARGs (before the first FROM) and their defaults. */
  args: Map<string, string | undefined>
  stages: Stage[]
}

export function substitute (text: string, vars: ReadonlyMap<string, string | undefined>): string {
  return text.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)(?::?-([^}]*))?\}|\$([A-Za-z_][A-Za-z0-9_]*)/g, (m: string, braced?: string, dflt?: string, bare?: string) => {
    const name = braced ?? bare ?? ''
    const v = vars.get(name)
    if (v !== undefined && v !== '') return v
    return dflt ?? ''
  })
}

function splitFlags (rest: string): { flags: Record<string, string>, args: string } {
  const flags: Record<string, string> = {}
  let s = rest
  for (;;) {
    const m = /^--([a-z-]+)(?:=(\S*))?\s+/.exec(s)
    if (m === null) break
    flags[m[1]] = m[2] ?? 'true'
    s = s.slice(m[0].length)
  }
  return { flags, args: s.trim() }
}

export function parseDockerfile (text: string): Dockerfile {
  const lines = text.split(/\r?\n/)
  const directives: Record<string, string> = {}
  const args = new Map<string, string | undefined>()
  const stages: Stage[] = []
  let i = 0
  // Parser directives: `# key=value` lines at the very top, before any comment or instruction.
  for (; i < lines.length; i++) {
    const m = /^#\s*([a-zA-Z]+)\s*=\s*(\S+)\s*$/.exec(lines[i])
    if (m === null) break
    directives[m[1].toLowerCase()] = m[2]
  }
  while (i < lines.length) {
    const start = i
    let line = lines[i++]
    if (/^\s*(#|$)/.test(line)) continue
    // A trailing backslash continues the instruction; comment lines inside it are dropped.
    while (/\\\s*$/.test(line) && i < lines.length) {
      line = line.replace(/\\\s*$/, '')
      let next = lines[i++]
      while (/^\s*(#|$)/.test(next) && i < lines.length) next = lines[i++]
      line += ' ' + next.trim()
    }
    const m = /^\s*([A-Za-z]+)\s*(.*)$/.exec(line)
    if (m === null) throw new Error(`line ${start + 1}: cannot parse ${JSON.stringify(line)}`)
    const keyword = m[1].toUpperCase()
    const { flags, args: rest } = splitFlags(m[2].trim() + ' ')
    let exec: string[] | undefined
    if (rest.startsWith('[')) {
      try {
        const parsed: unknown = JSON.parse(rest)
        if (Array.isArray(parsed) && parsed.every(x => typeof x === 'string')) exec = parsed as string[]
      } catch { /* shell form that happens to start with '[' */ }
    }
    const ins: Instruction = { keyword, args: rest, flags, exec, line: start + 1 }
    if (keyword === 'FROM') {
      const f = /^(\S+)(?:\s+AS\s+(\S+))?$/i.exec(rest)
      if (f === null) throw new Error(`line ${start + 1}: cannot parse FROM ${rest}`)
      stages.push({ image: substitute(f[1], args), name: f[2], instructions: [], line: start + 1 })
    } else if (stages.length === 0) {
      if (keyword !== 'ARG') throw new Error(`line ${start + 1}: only ARG may come before the first FROM, got ${keyword}`)
      const a = /^([A-Za-z_][A-Za-z0-9_]*)(?:=(.*))?$/.exec(rest)
      if (a === null) throw new Error(`line ${start + 1}: cannot parse ARG ${rest}`)
      args.set(a[1], a[2])
    } else {
      stages[stages.length - 1].instructions.push(ins)
    }
  }
  return { directives, args, stages }
}

/** The WORKDIR in force at the end of a stage (absolute; `/` when none is set). */
export function workdir (stage: Stage): string {
  let dir = '/'
  for (const ins of stage.instructions) {
    if (ins.keyword === 'WORKDIR') dir = posix.resolve(dir, ins.args)
  }
  return dir
}

export interface Copy {
  from?: string
  sources: string[]
  dest: string
  line: number
}

/** COPY/ADD instructions of a stage, sources and destination split (exec or shell form). */
export function copies (stage: Stage): Copy[] {
  return stage.instructions
    .filter(ins => ins.keyword === 'COPY' || ins.keyword === 'ADD')
    .map(ins => {
      const parts = ins.exec ?? ins.args.split(/\s+/)
      return { from: ins.flags.from, sources: parts.slice(0, -1), dest: parts[parts.length - 1], line: ins.line }
    })
}

/** The shell text of every RUN in a stage. */
export function runs (stage: Stage): string[] {
  return stage.instructions.filter(ins => ins.keyword === 'RUN').map(ins => ins.exec?.join(' ') ?? ins.args)
}

/** Packages named by `apt-get install` in a stage's RUNs (options dropped). */
export function aptInstalls (stage: Stage): string[] {
  const pkgs: string[] = []
  for (const r of runs(stage)) {
    for (const m of r.matchAll(/apt-get\s+install\s+((?:[^&;|]|&(?!&))+)/g)) {
      pkgs.push(...m[1].split(/\s+/).filter(w => w !== '' && !w.startsWith('-')))
    }
  }
  return pkgs
}

/**
 * `.dockerignore` as Docker applies it: patterns relative to the context root, matched against a
 * path and each of its parent directories (so excluding `dist` excludes `dist/x.js`), later lines
 * win, `!` re-includes.
 */
export function dockerignore (text: string): (path: string) => boolean {
  const rules = text.split(/\r?\n/)
    .map(l => l.trim())
    .filter(l => l !== '' && !l.startsWith('#'))
    .map(l => {
      const negate = l.startsWith('!')
      const pattern = posix.normalize((negate ? l.slice(1) : l).trim()).replace(/^\/+/, '').replace(/\/+$/, '')
      return { negate, match: picomatch(pattern, { dot: true }) }
    })
  return (path: string): boolean => {
    const clean = posix.normalize(path).replace(/^\.\//, '').replace(/\/+$/, '')
    if (clean === '' || clean === '.') return false
    const segments = clean.split('/')
    const candidates = segments.map((_, i) => segments.slice(0, i + 1).join('/'))
    let ignored = false
    for (const r of rules) {
      if (candidates.some(c => r.match(c))) ignored = !r.negate
    }
    return ignored
  }
}
