// Ferry's own log (not the access log): leveled lines on stderr, level changeable at run time
// (admin `POST /logging?level=`).

export type LogLevel = 'debug' | 'info' | 'warn' | 'error'
const ORDER: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 }

export function isLogLevel (v: string): v is LogLevel {
  return v in ORDER
}

export class Logger {
  private threshold: number

  constructor (private levelName: LogLevel = 'info', private readonly out: NodeJS.WritableStream = process.stderr) {
    this.threshold = ORDER[levelName]
  }

  get level (): LogLevel {
    return this.levelName
  }

  setLevel (level: LogLevel): void {
    this.levelName = level
    this.threshold = ORDER[level]
  }

  enabled (level: LogLevel): boolean {
    return ORDER[level] >= this.threshold
  }

  debug (msg: string): void { this.write('debug', msg) }
  info (msg: string): void { this.write('info', msg) }
  warn (msg: string): void { this.write('warn', msg) }
  error (msg: string): void { this.write('error', msg) }

  private write (level: LogLevel, msg: string): void {
    if (ORDER[level] < this.threshold) return
    this.out.write(`${new Date().toISOString()}\t${level}\tferry\t${msg}\n`)
  }
}
