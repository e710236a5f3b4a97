// `promtool check metrics` for the Prometheus exposition tests. CI installs promtool
// (apt-get install -y prometheus); there its absence is a failure, locally a skip.

import { spawnSync } from 'node:child_process'

/**
 * Lint rules promtool applies that Envoy's and Istio's own metric names break. They stay as they
 * are because dashboards and alerts query them by these names (`envoy_cluster_upstream_cx_connect_fail`,
 * `istio_request_duration_milliseconds`); every other lint message fails the test.
 */
export const ACCEPTED_LINT = [
  /^envoy_\S+ counter metrics should have "_total" suffix$/,
  /^envoy_\S+ non-counter metrics should not have "_total" suffix$/,
  /^envoy_\S+_ms metric names should not contain abbreviated units$/,
  /^istio_request_duration_milliseconds use base unit "seconds" instead of "milliseconds"$/
]

const probe = spawnSync('promtool', ['--version'], { encoding: 'utf8' })
export const hasPromtool = probe.error === undefined && probe.status === 0
const inCI = process.env.CI !== undefined && process.env.CI !== '' && process.env.CI !== 'false'

/** tap's `skip` for a promtool test: a reason locally without promtool, false in CI (where the test fails instead). */
export const promtoolSkip: string | false = !hasPromtool && !inCI ? 'promtool not installed (apt-get install -y prometheus)' : false

export interface PromtoolResult {
  status: number | null
  /** Every line promtool printed. */
  problems: string[]
  /** The ones not in ACCEPTED_LINT. */
  unexpected: string[]
}

/**
 * No `--lint=none` even where promtool has it (2.44+): the output is classified instead, so a
 * lint problem outside the accepted list still fails. Exit status: 0 clean (or, in newer
 * promtool, lint problems without --lint-fatal), 3 lint problems (older promtool), 1 parse error.
 */
export function promtoolCheck (exposition: string): PromtoolResult {
  const res = spawnSync('promtool', ['check', 'metrics'], { input: exposition, encoding: 'utf8' })
  const problems = `${res.stdout}${res.stderr}`.split('\n').map(l => l.trim()).filter(l => l !== '')
  return { status: res.status, problems, unexpected: problems.filter(p => !ACCEPTED_LINT.some(re => re.test(p))) }
}
