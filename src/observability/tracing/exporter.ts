import http from 'node:http'
import https from 'node:https'
import type { ZipkinReportable } from './zipkin'

/**
 * Batches finished spans and POSTs them to a Zipkin collector, never on the request path.
 *
 * Envoy's equivalent is `ReporterImpl` (source/extensions/tracers/zipkin/zipkin_tracer_impl.cc): a span buffer
 * flushed when it reaches `min_flush_spans` (default 5) or every `flush_interval` (default 5 s), spans beyond the
 * buffer size dropped. Ferry differs in three ways, all so that a slow or dead collector costs the proxy nothing
 * but the spans themselves: the queue is a bounded ring that drops the OLDEST span (recent traces are the ones an
 * operator is looking for), at most `maxConcurrentReports` POSTs are in flight (the rest wait in the queue, so a
 * collector that hangs cannot accumulate sockets), and every POST has a hard deadline.
 */

/** Counters for the stats table; mutated in place so a reader can hold on to the object. */
export interface ExporterStats {
  /** Spans in reports the collector accepted (2xx). */
  spansSent: number
  /** Spans dropped from a full queue (oldest first) or offered after shutdown. */
  spansDropped: number
  /** Reports that failed: connection error, timeout, or a non-2xx answer. Their spans are lost, not retried. */
  reportsFailed: number
  /** Reports the collector accepted. */
  reportsSent: number
}

/** Injected so batching by interval is testable without sleeping (style habit 6). */
export interface IntervalTimer {
  setInterval(fn: () => void, ms: number): unknown
  clearInterval(handle: unknown): void
}

/** Sends one report; resolves with the HTTP status. Injected in unit tests; the default uses node:http. */
export type ReportTransport = (body: string) => Promise<number>

export interface ZipkinExporterOptions {
  /** e.g. http://zipkin.istio-system:9411/api/v2/spans */
  url: string
  flushIntervalMs?: number
  maxBatch?: number
  maxQueue?: number
  /** Deadline for one POST, connect included. */
  timeoutMs?: number
  maxConcurrentReports?: number
  timer?: IntervalTimer
  transport?: ReportTransport
}

const realTimer: IntervalTimer = {
  setInterval(fn, ms) {
    // unref: a pending flush must never keep a draining proxy alive; shutdown() flushes explicitly.
    return setInterval(fn, ms).unref()
  },
  clearInterval(handle) {
    clearInterval(handle as NodeJS.Timeout)
  },
}

function positiveInt(name: string, v: number): number {
  if (!Number.isInteger(v) || v < 1) throw new TypeError(`zipkin exporter: ${name} must be a positive integer, got ${v}`)
  return v
}

export class ZipkinExporter {
  readonly stats: ExporterStats = { spansSent: 0, spansDropped: 0, reportsFailed: 0, reportsSent: 0 }
  readonly url: string

  private readonly maxBatch: number
  private readonly maxConcurrent: number
  private readonly timeoutMs: number
  private readonly timer: IntervalTimer
  private readonly transport: ReportTransport
  private readonly agent: http.Agent | null
  private readonly intervalHandle: unknown

  // Ring buffer: `count` spans starting at `head`. Fixed capacity so memory is bounded whatever the collector does.
  private readonly ring: (ZipkinReportable | undefined)[]
  private head = 0
  private count = 0

  private inFlight = 0
  private readonly pending = new Set<Promise<void>>()
  private flushScheduled = false
  private closed = false
  // Bound once: scheduling a flush allocates no closure.
  private readonly flushSoon: () => void

  constructor(opts: ZipkinExporterOptions) {
    let parsed: URL
    try {
      parsed = new URL(opts.url)
    } catch {
      throw new TypeError(`zipkin exporter: invalid collector URL ${JSON.stringify(opts.url)}`)
    }
    if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
      throw new TypeError(`zipkin exporter: collector URL must be http or https, got ${parsed.protocol}`)
    }
    this.url = parsed.href
    this.maxBatch = positiveInt('maxBatch', opts.maxBatch ?? 100)
    const maxQueue = positiveInt('maxQueue', opts.maxQueue ?? 10000)
    this.maxConcurrent = positiveInt('maxConcurrentReports', opts.maxConcurrentReports ?? 2)
    this.timeoutMs = positiveInt('timeoutMs', opts.timeoutMs ?? 2000)
    const flushIntervalMs = positiveInt('flushIntervalMs', opts.flushIntervalMs ?? 1000)
    this.ring = new Array<ZipkinReportable | undefined>(maxQueue).fill(undefined)
    this.timer = opts.timer ?? realTimer
    if (opts.transport !== undefined) {
      this.agent = null
      this.transport = opts.transport
    } else {
      // A private keep-alive agent: the collector's connections never share a pool (or its limits) with
      // proxied traffic. node:http, not undici: the exporter sends a few requests a second, and loading
      // undici's full API for it cost 9 MB of RSS (Ferry loads only undici's Client for the hot path).
      const agent = new (parsed.protocol === 'https:' ? https.Agent : http.Agent)({ keepAlive: true, maxSockets: this.maxConcurrent })
      this.agent = agent
      this.transport = (body) => this.post(agent, body)
    }
    this.flushSoon = () => {
      this.flushScheduled = false
      this.flush()
    }
    this.intervalHandle = this.timer.setInterval(this.flushSoon, flushIntervalMs)
  }

  /** Spans waiting to be sent. */
  get queued(): number {
    return this.count
  }

  /** Queues a finished span. O(1), never throws, never waits. */
  export(span: ZipkinReportable): void {
    if (this.closed) {
      this.stats.spansDropped++
      return
    }
    const cap = this.ring.length
    if (this.count === cap) {
      this.ring[this.head] = undefined
      this.head = this.head + 1 === cap ? 0 : this.head + 1
      this.count--
      this.stats.spansDropped++
    }
    let tail = this.head + this.count
    if (tail >= cap) tail -= cap
    this.ring[tail] = span
    this.count++
    if (this.count >= this.maxBatch && !this.flushScheduled && this.inFlight < this.maxConcurrent) {
      // Deferred so the POST's serialisation runs after the request that filled the batch has been answered.
      this.flushScheduled = true
      setImmediate(this.flushSoon)
    }
  }

  /** Starts as many reports as the concurrency limit allows; spans beyond that wait for the next flush. */
  flush(): void {
    while (this.count > 0 && this.inFlight < this.maxConcurrent) this.sendBatch()
  }

  /**
   * Best effort: stops the timer, sends everything queued regardless of the concurrency limit, waits at most one
   * report deadline for the answers, then closes the collector's connections.
   */
  async shutdown(): Promise<void> {
    if (this.closed) return
    this.closed = true
    this.timer.clearInterval(this.intervalHandle)
    while (this.count > 0) this.sendBatch()
    if (this.pending.size > 0) {
      let deadline: NodeJS.Timeout | undefined
      await Promise.race([
        Promise.allSettled(this.pending),
        new Promise<void>((resolve) => {
          deadline = setTimeout(resolve, this.timeoutMs)
        }),
      ])
      clearTimeout(deadline)
    }
    if (this.agent !== null) this.agent.destroy()
  }

  private sendBatch(): void {
    const n = Math.min(this.count, this.maxBatch)
    const cap = this.ring.length
    const batch = new Array<unknown>(n)
    let failed = false
    for (let i = 0; i < n; i++) {
      const span = this.ring[this.head] as ZipkinReportable
      this.ring[this.head] = undefined
      this.head = this.head + 1 === cap ? 0 : this.head + 1
      try {
        batch[i] = span.toZipkin()
      } catch {
        // A span that cannot describe itself is a bug, but it must not take the rest of the batch with it.
        failed = true
      }
    }
    this.count -= n
    let body: string
    try {
      body = JSON.stringify(failed ? batch.filter((s) => s !== undefined) : batch)
    } catch {
      this.stats.reportsFailed++
      return
    }
    this.inFlight++
    let sent: Promise<number>
    try {
      sent = this.transport(body)
    } catch (err) {
      sent = Promise.reject(err)
    }
    const p: Promise<void> = sent.then(
      (status) => {
        if (status >= 200 && status < 300) {
          this.stats.reportsSent++
          this.stats.spansSent += n
        } else {
          this.stats.reportsFailed++
        }
      },
      () => {
        this.stats.reportsFailed++
      },
    )
    this.pending.add(p)
    void p.finally(() => {
      this.pending.delete(p)
      this.inFlight--
      // Catch up without waiting for the next tick when a full batch accumulated while this one was in flight.
      if (!this.closed && this.count >= this.maxBatch) this.flush()
    })
  }

  private post(agent: http.Agent, body: string): Promise<number> {
    return new Promise((resolve, reject) => {
      const send = this.url.startsWith('https:') ? https.request : http.request
      const req = send(this.url, {
        method: 'POST',
        agent,
        headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
        // One deadline over connecting, writing and waiting: a collector that accepts the connection but
        // never reads the body or never answers is bounded by it.
        signal: AbortSignal.timeout(this.timeoutMs),
      }, (res) => {
        // Drain so the connection can be reused; the collector's answer body is of no interest.
        res.resume()
        res.once('end', () => resolve(res.statusCode ?? 0))
        res.once('error', reject)
      })
      req.once('error', reject)
      req.end(body)
    })
  }
}
