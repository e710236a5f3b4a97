// `ferry run`: start the proxy and keep it running until SIGTERM/SIGINT.

import { Ferry, ConfigError } from '../ferry'
import { Logger, isLogLevel } from '../observability/logger'
import { commandFlags, one, parseLabels, usage, type FlagSpec } from './args'
import { parseDuration } from '../config/duration'
import { availableParallelism } from 'node:os'
import { sharedMemoryUnavailableReason } from '../upstream/shared-memory'
import { runPrimary } from '../runtime/primary'
import { attachSharedState, serveWorker, workerIdentity } from '../runtime/worker'

export const RUN_FLAGS: FlagSpec[] = [
  { name: 'config', repeat: true, help: 'Istio YAML/JSON file or directory (repeatable)' },
  { name: 'role', default: 'sidecar', help: 'gateway or sidecar' },
  { name: 'namespace', default: 'default', help: "the proxy's own namespace" },
  { name: 'labels', help: "the proxy's workload labels, k=v,k=v" },
  { name: 'admin', default: '127.0.0.1:15000', help: 'admin listener HOST:PORT' },
  { name: 'access-log', help: 'access log file (- for stdout)' },
  { name: 'access-log-format', default: 'text', help: 'text or json' },
  { name: 'log-level', default: 'info', help: 'debug, info, warn or error' },
  { name: 'gateway-address', default: '0.0.0.0', help: 'address the gateway listeners bind' },
  { name: 'zipkin', help: 'Zipkin v2 spans endpoint, e.g. http://zipkin:9411/api/v2/spans' },
  { name: 'sampling', default: '1', help: 'trace sampling percentage' },
  { name: 'drain-duration', default: '5s', help: 'time in-flight requests get to finish on SIGTERM' },
  { name: 'outbound-port', default: '15001', help: 'sidecar: outbound capture listener port' },
  { name: 'inbound-port', default: '15006', help: 'sidecar: inbound capture listener port' },
  { name: 'health-port', default: '15021', help: 'sidecar: /healthz/ready port (-1: off)' },
  { name: 'prometheus-port', default: '15090', help: 'sidecar: /stats/prometheus port (-1: off)' },
  { name: 'sidecar-address', default: '0.0.0.0', help: 'sidecar: address the capture, health and Prometheus listeners bind' },
  { name: 'outbound-traffic-policy', default: 'ALLOW_ANY', help: 'sidecar: ALLOW_ANY passes unknown destinations through, REGISTRY_ONLY blocks them' },
  { name: 'concurrency', help: 'worker processes (default 2 as sidecar, as Istio; 1 as gateway; 0: one per core); see docs/concurrency.md' },
  { name: 'help', boolean: true, help: 'show this help' }
]

export async function runCommand (argv: string[]): Promise<number> {
  const flags = commandFlags('run', argv, RUN_FLAGS)
  if (typeof flags === 'number') return flags
  const configPaths = flags.get('config') ?? []
  const role = one(flags, 'role')
  const level = one(flags, 'log-level') ?? 'info'
  const format = one(flags, 'access-log-format')
  const sampling = Number(one(flags, 'sampling'))
  const drainMs = parseDuration(one(flags, 'drain-duration'))
  const problems: string[] = []
  if (configPaths.length === 0) problems.push('--config is required')
  if (role !== 'gateway' && role !== 'sidecar') problems.push(`--role must be gateway or sidecar, not ${role}`)
  if (!isLogLevel(level)) problems.push(`--log-level must be debug, info, warn or error, not ${level}`)
  if (format !== 'text' && format !== 'json') problems.push(`--access-log-format must be text or json, not ${format}`)
  if (!Number.isFinite(sampling) || sampling < 0 || sampling > 100) problems.push('--sampling must be a percentage 0..100')
  if (drainMs === null) problems.push('--drain-duration must be a duration such as 5s')
  const port = (name: string): number => {
    const v = Number(one(flags, name))
    if (!Number.isInteger(v) || v < -1 || v > 65535) problems.push(`--${name} must be a port number`)
    return v
  }
  const sidecarPorts = { outbound: port('outbound-port'), inbound: port('inbound-port'), health: port('health-port'), prometheus: port('prometheus-port') }
  const policy = one(flags, 'outbound-traffic-policy')
  if (policy !== 'ALLOW_ANY' && policy !== 'REGISTRY_ONLY') problems.push('--outbound-traffic-policy must be ALLOW_ANY or REGISTRY_ONLY')
  const concurrencyFlag = one(flags, 'concurrency')
  const concurrency = concurrencyFlag === undefined ? (role === 'sidecar' ? 2 : 1) : Number(concurrencyFlag)
  if (!Number.isInteger(concurrency) || concurrency < 0) problems.push('--concurrency must be a whole number')
  let labels: Record<string, string> = {}
  try {
    labels = parseLabels(one(flags, 'labels'))
  } catch (err) {
    problems.push((err as Error).message)
  }
  if (problems.length > 0) {
    process.stderr.write(`ferry run: ${problems.join('; ')}\n${usage('run', RUN_FLAGS)}`)
    return 2
  }
  const logger = new Logger(level as 'info')
  let admin = one(flags, 'admin') ?? ''
  const adminOff = admin === '' || admin === 'off'
  const sidecarAddress = one(flags, 'sidecar-address') ?? '0.0.0.0'

  // --concurrency N > 1: this process becomes the primary and forks N workers that each run the
  // code below (docs/concurrency.md). Without shared memory the limits could only be per worker,
  // so Ferry runs one worker instead and says why.
  const worker = workerIdentity()
  let workers = concurrency === 0 ? availableParallelism() : concurrency
  if (worker === null && workers > 1) {
    const unavailable = sharedMemoryUnavailableReason()
    if (unavailable === null) {
      return await runPrimary({
        workers,
        logger,
        admin: adminOff ? null : admin,
        drainMs: drainMs as number,
        sidecar: role === 'sidecar' ? { health: sidecarPorts.health, prometheus: sidecarPorts.prometheus, address: sidecarAddress } : null,
        zeroPorts: role === 'sidecar' ? (['outbound-port', 'inbound-port'] as const).filter(n => sidecarPorts[n === 'outbound-port' ? 'outbound' : 'inbound'] === 0) : []
      })
    }
    logger.warn(`--concurrency ${workers}: running 1 worker, because circuit breakers and outlier ejection must stay per cluster across workers and the shared-memory addon is unavailable (${unavailable})`)
    workers = 1
  }
  if (worker !== null) {
    try {
      attachSharedState(worker, logger)
    } catch (err) {
      logger.error(`worker ${worker.index}: cannot map shared memory: ${(err as Error).message}`)
      return 1
    }
    // The primary owns the admin, health and Prometheus ports; worker 0 answers the admin paths
    // it forwards on a private loopback port.
    admin = adminOff || worker.index !== 0 ? '' : '127.0.0.1:0'
    sidecarPorts.health = -1
    sidecarPorts.prometheus = -1
  }
  const ferry = new Ferry({
    configPaths,
    role: role as 'gateway' | 'sidecar',
    namespace: one(flags, 'namespace') ?? 'default',
    labels,
    admin: admin === '' ? null : admin,
    accessLog: one(flags, 'access-log') ?? null,
    accessLogFormat: format as 'text' | 'json',
    gatewayAddress: one(flags, 'gateway-address') ?? '0.0.0.0',
    zipkin: one(flags, 'zipkin') ?? null,
    samplingPercent: sampling,
    logger,
    sidecar: sidecarPorts,
    sidecarAddress,
    outboundTrafficPolicy: policy as 'ALLOW_ANY' | 'REGISTRY_ONLY'
  })
  try {
    await ferry.start()
  } catch (err) {
    if (err instanceof ConfigError) {
      logger.error('refusing to start with an invalid configuration')
      return 1
    }
    logger.error(`start failed: ${(err as Error).message}`)
    await ferry.stop().catch(() => {})
    return 1
  }
  const code = await new Promise<number>(resolve => {
    let stopping = false
    const stop = (signal: string): void => {
      if (stopping) return
      stopping = true
      logger.info(`${signal}: draining for up to ${drainMs as number} ms`)
      const forced = setTimeout(() => {
        logger.warn('drain period over; exiting with requests still in flight')
        // Connections still open keep the event loop alive, so resolving is not enough: the
        // process would wait for the slowest request. Istio ends Envoy at this point too.
        process.exit(0)
      }, drainMs as number)
      forced.unref()
      ferry.stop().then(() => {
        clearTimeout(forced)
        resolve(0)
      }, (err: Error) => {
        logger.error(`shutdown: ${err.message}`)
        resolve(1)
      })
    }
    process.once('SIGTERM', () => stop('SIGTERM'))
    process.once('SIGINT', () => stop('SIGINT'))
    if (worker !== null) serveWorker(worker, ferry, stop)
  })
  // A worker's IPC channel would keep it alive after the drain; the primary is waiting for it to exit.
  if (worker !== null) setImmediate(() => process.exit(code))
  return code
}
