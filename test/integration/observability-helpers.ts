// Plumbing shared by the observability integration tests: a real Zipkin collector (node:http on
// port 0 that records every POSTed JSON array), bounded polling, and Prometheus text parsing.

import http from 'node:http'
import type { AddressInfo, Socket } from 'node:net'
import { once } from 'node:events'

/** A span as the collector received it: parsed JSON, deliberately untyped so the tests check every field. */
export type ReceivedSpan = Record<string, unknown>

export interface Collector {
  url: string
  /** Every POST, in arrival order. */
  reports: Array<{ method: string, url: string, contentType: string | undefined, spans: ReceivedSpan[] }>
  /** Every span of every report. */
  readonly spans: ReceivedSpan[]
  /**
   * Resolves with the first span `match` accepts, polling until `timeoutMs` (then rejects).
   * `poke` runs on every poll, e.g. the exporter's flush(), so a test need not wait out its interval.
   */
  waitForSpan (match: (s: ReceivedSpan) => boolean, poke?: () => void, timeoutMs?: number): Promise<ReceivedSpan>
  close (): Promise<void>
}

export async function startCollector (): Promise<Collector> {
  const reports: Collector['reports'] = []
  const sockets = new Set<Socket>()
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      let body: unknown
      try {
        body = JSON.parse(Buffer.concat(chunks).toString('utf8'))
      } catch {
        body = null
      }
      reports.push({ method: req.method ?? '', url: req.url ?? '', contentType: req.headers['content-type'], spans: Array.isArray(body) ? body as ReceivedSpan[] : [] })
      // Zipkin answers 202 Accepted.
      res.writeHead(202).end()
    })
  })
  server.on('connection', (s: Socket) => {
    sockets.add(s)
    s.on('close', () => sockets.delete(s))
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const port = (server.address() as AddressInfo).port
  const collector: Collector = {
    url: `http://127.0.0.1:${port}/api/v2/spans`,
    reports,
    get spans () { return reports.flatMap(r => r.spans) },
    async waitForSpan (match, poke, timeoutMs = 5000) {
      let found: ReceivedSpan | undefined
      await until(() => {
        found = collector.spans.find(match)
        if (found === undefined) poke?.()
        return found !== undefined
      }, timeoutMs, 'span never reached the collector')
      return found as ReceivedSpan
    },
    async close () {
      for (const s of sockets) s.destroy()
      server.close()
      await once(server, 'close')
    }
  }
  return collector
}

/** Polls `cond` every few milliseconds; rejects after `timeoutMs` with `what`. A bounded wait, never a fixed sleep. */
export async function until (cond: () => boolean | Promise<boolean>, timeoutMs = 5000, what = 'condition not met'): Promise<void> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    if (await cond()) return
    if (Date.now() > deadline) throw new Error(`${what} within ${timeoutMs} ms`)
    await new Promise(resolve => setTimeout(resolve, 10))
  }
}

/** One Prometheus sample line: `family{labels} value`. */
export interface Sample { name: string, labels: Record<string, string>, value: number }

/** Parses the text exposition format (enough of it for what Ferry writes: no timestamps). */
export function parsePrometheus (text: string): Sample[] {
  const out: Sample[] = []
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line)
    if (m === null) throw new Error(`unparsable exposition line: ${line}`)
    const labels: Record<string, string> = {}
    const re = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)",?/g
    let lm: RegExpExecArray | null
    while ((lm = re.exec(m[2] ?? '')) !== null) labels[lm[1]] = lm[2].replace(/\\(.)/g, (_a, c: string) => (c === 'n' ? '\n' : c))
    out.push({ name: m[1], labels, value: Number(m[3]) })
  }
  return out
}

/** Samples of `name` whose labels include every pair in `where`. */
export function samples (all: Sample[], name: string, where: Record<string, string> = {}): Sample[] {
  return all.filter(s => s.name === name && Object.entries(where).every(([k, v]) => s.labels[k] === v))
}
