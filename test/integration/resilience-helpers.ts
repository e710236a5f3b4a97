// Shared plumbing for the resilience integration tests: the httpbin-style config Istio's tasks
// use (a ServiceEntry `httpbin.default.svc.cluster.local:8000` with endpoints on 127.0.0.1),
// cluster stat lookups, the JSON access log, and bounded polling instead of sleeps.

import { readFileSync, existsSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { GATEWAY, serviceEntry, startFerry, stat, type RunningFerry } from '../helpers/harness'
import type { FerryOptions } from '../../src/ferry'

export const HOST = 'httpbin.default.svc.cluster.local'
export const CLUSTER = `outbound|8000||${HOST}`

/** Gateway + ServiceEntry for `endpoints` + a VirtualService whose one route carries `routeExtra` (YAML, indented 4). */
export function httpbinConfig (endpoints: number[], routeExtra = '', destinationRule = ''): string {
  const vs = `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: httpbin}
spec:
  hosts: ["*"]
  gateways: [gw]
  http:
  - route:
    - destination: {host: ${HOST}, port: {number: 8000}}
${routeExtra}---
`
  const dr = destinationRule === ''
    ? ''
    : `apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: httpbin}
spec:
  host: ${HOST}
  trafficPolicy:
${destinationRule}---
`
  return GATEWAY + serviceEntry(HOST, 8000, endpoints.map(port => ({ port }))) + vs + dr
}

export interface LoggedFerry extends RunningFerry {
  /** Parsed JSON access log lines so far. */
  logs (): Array<Record<string, string | number>>
  /** Polls until at least `n` access log lines were written. */
  waitForLogs (n: number): Promise<Array<Record<string, string | number>>>
  clusterStat (name: string): Promise<number | undefined>
}

function withLog (f: RunningFerry, path: string | null = null): LoggedFerry {
  const logs = (): Array<Record<string, string | number>> => {
    if (path === null || !existsSync(path)) return []
    return readFileSync(path, 'utf8').split('\n').filter(l => l !== '').map(l => JSON.parse(l) as Record<string, string | number>)
  }
  return Object.assign(f, {
    logs,
    waitForLogs: async (n: number) => {
      await waitFor(() => logs().length >= n, `${n} access log line(s)`)
      return logs()
    },
    clusterStat: (name: string) => stat(f, `cluster.${CLUSTER}.${name}`)
  })
}

/** Starts Ferry with a JSON access log in a fresh temp file. */
export async function startFerryWithLog (yaml: string, opts: Partial<FerryOptions> = {}): Promise<LoggedFerry> {
  const dir = mkdtempSync(join(tmpdir(), 'ferry-log-'))
  const path = join(dir, 'access.log')
  const f = await startFerry(yaml, {}, { accessLog: path, accessLogFormat: 'json', ...opts }).catch((err: unknown) => {
    rmSync(dir, { recursive: true, force: true })
    throw err
  })
  const stop = f.stop
  f.stop = async () => {
    await stop()
    rmSync(dir, { recursive: true, force: true })
  }
  return withLog(f, path)
}

/** Polls `cond` every 10 ms for at most `timeoutMs`; throws with `what` when it never holds. */
export async function waitFor (cond: () => boolean | Promise<boolean>, what: string, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    if (await cond()) return
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise(resolve => setTimeout(resolve, 10))
  }
}
