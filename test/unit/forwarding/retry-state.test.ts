import t from 'tap'
import { RetryPolicy } from '../../../src/forwarding/retry-policy'
import { RetryState, AttemptOutcome, RetryDecision } from '../../../src/forwarding/retry-state'

const state = (retryOn: string, attempts = 2, random: () => number = () => 0): RetryState =>
  new RetryState(RetryPolicy.compile({ attempts, retryOn }), random)

const O = AttemptOutcome
const NO_RESPONSE = [O.ConnectFailure, O.Reset, O.ResetOnReusedConnection, O.PerTryTimeout, O.ProtocolError] as const

t.test('5xx: any 5xx response and every no-response outcome', async t => {
  const s = state('5xx')
  for (const code of [500, 501, 502, 503, 504, 599]) t.ok(s.wouldRetry(O.Response, code, undefined), String(code))
  for (const code of [200, 404, 409, 429]) t.notOk(s.wouldRetry(O.Response, code, undefined), String(code))
  for (const o of NO_RESPONSE) t.ok(s.wouldRetry(o, 0, undefined), `outcome ${o}`)
})

t.test('gateway-error: 502, 503, 504 and no response', async t => {
  const s = state('gateway-error')
  for (const code of [502, 503, 504]) t.ok(s.wouldRetry(O.Response, code, undefined), String(code))
  for (const code of [500, 501, 505, 409]) t.notOk(s.wouldRetry(O.Response, code, undefined), String(code))
  for (const o of NO_RESPONSE) t.ok(s.wouldRetry(o, 0, undefined), `outcome ${o}`)
})

t.test('reset: no response at all, never a status', async t => {
  const s = state('reset')
  for (const o of NO_RESPONSE) t.ok(s.wouldRetry(o, 0, undefined), `outcome ${o}`)
  t.notOk(s.wouldRetry(O.Response, 503, undefined))
})

t.test('connect-failure: only a failed connect', async t => {
  const s = state('connect-failure')
  t.ok(s.wouldRetry(O.ConnectFailure, 0, undefined))
  for (const o of [O.Reset, O.PerTryTimeout, O.ProtocolError]) t.notOk(s.wouldRetry(o, 0, undefined), `outcome ${o}`)
  t.notOk(s.wouldRetry(O.Response, 503, undefined))
})

t.test('reset-before-request: a connect failure (nothing was sent)', async t => {
  const s = state('reset-before-request')
  t.ok(s.wouldRetry(O.ConnectFailure, 0, undefined))
  t.notOk(s.wouldRetry(O.Reset, 0, undefined), 'the request may have reached the upstream')
})

t.test('retriable-4xx: 409 only', async t => {
  const s = state('retriable-4xx')
  t.ok(s.wouldRetry(O.Response, 409, undefined))
  for (const code of [400, 404, 429, 500]) t.notOk(s.wouldRetry(O.Response, code, undefined), String(code))
})

t.test('retriable-status-codes and bare codes retry exactly those codes', async t => {
  const s = state('503,429')
  t.ok(s.wouldRetry(O.Response, 503, undefined))
  t.ok(s.wouldRetry(O.Response, 429, undefined))
  t.notOk(s.wouldRetry(O.Response, 500, undefined))
  t.notOk(s.wouldRetry(O.Response, 502, undefined))
  t.notOk(s.wouldRetry(O.Reset, 0, undefined), 'a status code list says nothing about resets')
  t.notOk(state('retriable-status-codes').wouldRetry(O.Response, 503, undefined), 'no codes listed: nothing to retry')
})

t.test('gRPC conditions read grpc-status', async t => {
  const cases: Array<[string, string]> = [
    ['cancelled', '1'], ['deadline-exceeded', '4'], ['resource-exhausted', '8'], ['internal', '13'], ['unavailable', '14']
  ]
  for (const [name, code] of cases) {
    const s = state(name)
    t.ok(s.wouldRetry(O.Response, 200, code), `${name} on grpc-status ${code}`)
    t.notOk(s.wouldRetry(O.Response, 200, '0'), `${name} not on grpc-status 0`)
    t.notOk(s.wouldRetry(O.Response, 200, undefined), `${name} not without grpc-status`)
    for (const [, other] of cases) if (other !== code) t.notOk(s.wouldRetry(O.Response, 200, other), `${name} not on ${other}`)
  }
})

t.test("Istio's default policy: connect failures and gRPC unavailable/cancelled, not 503", async t => {
  const s = new RetryState(RetryPolicy.compile(undefined), () => 0)
  t.ok(s.wouldRetry(O.ConnectFailure, 0, undefined))
  t.ok(s.wouldRetry(O.Response, 200, '14'))
  t.ok(s.wouldRetry(O.Response, 200, '1'))
  t.notOk(s.wouldRetry(O.Response, 503, undefined))
  t.notOk(s.wouldRetry(O.Reset, 0, undefined))
  t.notOk(s.wouldRetry(O.PerTryTimeout, 0, undefined))
})

t.test('decide counts retries and reports the limit', async t => {
  const s = state('5xx', 2)
  t.equal(s.decide(O.Response, 503, undefined), RetryDecision.Retry)
  t.equal(s.retriesDone, 1)
  t.equal(s.decide(O.Reset, 0, undefined), RetryDecision.Retry)
  t.equal(s.retriesDone, 2)
  t.equal(s.decide(O.Response, 500, undefined), RetryDecision.LimitExceeded, 'URX')
  t.equal(s.retriesDone, 2)
  t.equal(s.decide(O.Response, 404, undefined), RetryDecision.No, 'not retriable is No, even past the limit')
})

t.test('attempts: 0 never retries and never reports a limit', async t => {
  const s = new RetryState(RetryPolicy.compile({ attempts: 0, retryOn: '5xx' }), () => 0)
  t.equal(s.decide(O.Response, 503, undefined), RetryDecision.No)
  t.equal(s.decide(O.ConnectFailure, 0, undefined), RetryDecision.No)
})

t.test('the keep-alive race is retried once, outside the policy', async t => {
  const s = new RetryState(RetryPolicy.compile({ attempts: 0 }), () => 0)
  t.equal(s.decide(O.ResetOnReusedConnection, 0, undefined), RetryDecision.Retry, 'even with retries off')
  t.equal(s.retriesDone, 0, 'not charged to the policy')
  t.equal(s.decide(O.ResetOnReusedConnection, 0, undefined), RetryDecision.No, 'only once')
  const r = state('reset', 1)
  t.equal(r.decide(O.ResetOnReusedConnection, 0, undefined), RetryDecision.Retry)
  t.equal(r.decide(O.ResetOnReusedConnection, 0, undefined), RetryDecision.Retry, 'then the policy applies')
  t.equal(r.decide(O.ResetOnReusedConnection, 0, undefined), RetryDecision.LimitExceeded)
})

t.test('backoff: retry N waits within [0, min(250, (2^N - 1) x 25)) ms', async t => {
  const ceilings = [25, 75, 175, 250, 250, 250]
  for (const draw of [0, 0.5, 0.999999]) {
    const s = state('5xx', 6, () => draw)
    for (let n = 1; n <= 6; n++) {
      t.equal(s.decide(O.Response, 503, undefined), RetryDecision.Retry)
      const ms = s.backoffMs()
      const ceiling = ceilings[n - 1]
      t.ok(ms >= 0 && ms < ceiling, `retry ${n} draw ${draw}: ${ms} in [0, ${ceiling})`)
      if (draw === 0) t.equal(ms, 0)
      if (draw > 0.99) t.equal(ms, ceiling - 1, 'the top of the range is reachable')
    }
  }
})

t.test('backoff scales with a configured base interval', async t => {
  const s = new RetryState(RetryPolicy.compile({ attempts: 5, retryOn: '5xx', backoff: '100ms' }), () => 0.999999)
  const seen: number[] = []
  for (let n = 1; n <= 5; n++) {
    s.decide(O.Response, 503, undefined)
    seen.push(s.backoffMs())
  }
  t.same(seen, [99, 299, 699, 999, 999], 'ceilings 100, 300, 700, then the 1000 ms cap')
})
