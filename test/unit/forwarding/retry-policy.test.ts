import t from 'tap'
import { RetryPolicy, RetryOn, DEFAULT_RETRY_ON } from '../../../src/forwarding/retry-policy'

t.test('a route without retries gets Istio\'s default policy', async t => {
  const p = RetryPolicy.compile(undefined)
  t.equal(p.numRetries, 2)
  t.equal(p.perTryTimeoutMs, 0, 'no per-try timeout by default')
  t.equal(DEFAULT_RETRY_ON, 'connect-failure,refused-stream,unavailable,cancelled,retriable-status-codes')
  t.equal(p.retryOn, RetryOn.ConnectFailure | RetryOn.RefusedStream | RetryOn.GrpcUnavailable | RetryOn.GrpcCancelled | RetryOn.RetriableStatusCodes)
  t.same([...p.retriableStatusCodes], [], '503 left the default in Istio 1.24: no status code is retried')
  t.equal(p.baseIntervalMs, 25)
  t.equal(p.maxIntervalMs, 250)
})

t.test('attempts: 0 turns retries off', async t => {
  const p = RetryPolicy.compile({ attempts: 0, retryOn: '5xx' })
  t.equal(p.numRetries, 0)
  t.equal(p.retryOn, RetryOn.None)
})

t.test('retries without attempts disable retries, as Istio does (proto3 zero)', async t => {
  // istio retry.go ConvertPolicy: `if in.Attempts <= 0 { return nil }`, and an unset int32 is 0.
  const p = RetryPolicy.compile({ retryOn: '5xx', perTryTimeout: '1s' })
  t.equal(p.numRetries, 0)
})

t.test('attempts, perTryTimeout and backoff are taken as given', async t => {
  const p = RetryPolicy.compile({ attempts: 3, perTryTimeout: '2s', retryOn: '5xx', backoff: '100ms' })
  t.equal(p.numRetries, 3)
  t.equal(p.perTryTimeoutMs, 2000)
  t.equal(p.retryOn, RetryOn.FiveXx)
  t.equal(p.baseIntervalMs, 100)
  t.equal(p.maxIntervalMs, 1000, "Envoy's max interval is 10 x base")
})

t.test('retries with attempts but no retryOn keep the default conditions', async t => {
  const p = RetryPolicy.compile({ attempts: 4 })
  t.equal(p.numRetries, 4)
  t.equal(p.retryOn, RetryPolicy.compile(undefined).retryOn)
})

t.test('every retryOn name maps to its flag', async t => {
  const cases: Array<[string, RetryOn]> = [
    ['5xx', RetryOn.FiveXx],
    ['gateway-error', RetryOn.GatewayError],
    ['reset', RetryOn.Reset],
    ['reset-before-request', RetryOn.ResetBeforeRequest],
    ['connect-failure', RetryOn.ConnectFailure],
    ['retriable-4xx', RetryOn.Retriable4xx],
    ['refused-stream', RetryOn.RefusedStream],
    ['retriable-status-codes', RetryOn.RetriableStatusCodes],
    ['envoy-ratelimited', RetryOn.EnvoyRateLimited],
    ['http3-post-connect-failure', RetryOn.Http3PostConnectFailure],
    ['cancelled', RetryOn.GrpcCancelled],
    ['deadline-exceeded', RetryOn.GrpcDeadlineExceeded],
    ['internal', RetryOn.GrpcInternal],
    ['resource-exhausted', RetryOn.GrpcResourceExhausted],
    ['unavailable', RetryOn.GrpcUnavailable]
  ]
  for (const [name, flag] of cases) {
    t.equal(RetryPolicy.compile({ attempts: 1, retryOn: name }).retryOn, flag, name)
  }
})

t.test('a list is ORed, with spaces and empty items ignored', async t => {
  const p = RetryPolicy.compile({ attempts: 1, retryOn: ' gateway-error, ,connect-failure ,' })
  t.equal(p.retryOn, RetryOn.GatewayError | RetryOn.ConnectFailure)
})

t.test('bare status codes become retriable-status-codes', async t => {
  const p = RetryPolicy.compile({ attempts: 2, retryOn: '503,429, connect-failure' })
  t.equal(p.retryOn, RetryOn.RetriableStatusCodes | RetryOn.ConnectFailure)
  t.same([...p.retriableStatusCodes].sort(), [429, 503])
})

t.test('unknown names are ignored, never a crash', async t => {
  const p = RetryPolicy.compile({ attempts: 2, retryOn: 'retriable-headers,bogus,5xx' })
  t.equal(p.retryOn, RetryOn.FiveXx)
})
