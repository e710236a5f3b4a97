import t from 'tap'
import { FaultConfig } from '../../../src/filters/fault'

t.test('no fault block: null (nothing to check per request)', async t => {
  t.equal(FaultConfig.compile(undefined), null)
  t.equal(FaultConfig.compile({}), null)
})

t.test('a delay without any percentage is 0%, so no fault at all', async t => {
  t.equal(FaultConfig.compile({ delay: { fixedDelay: '5s' } }), null)
  t.equal(FaultConfig.compile({ abort: { httpStatus: 500 } }), null)
  t.equal(FaultConfig.compile({ delay: { fixedDelay: '5s', percentage: { value: 0 } } }), null)
})

t.test('delay with percentage.value', async t => {
  const f = FaultConfig.compile({ delay: { fixedDelay: '1.5s', percentage: { value: 25 } } })
  if (f === null) throw new Error('expected a fault')
  t.equal(f.delayMs, 1500)
  t.equal(f.delayPercent, 25)
  t.ok(f.shouldDelay(0))
  t.ok(f.shouldDelay(0.2499))
  t.notOk(f.shouldDelay(0.25), 'the draw is compared with < percent / 100')
  t.notOk(f.shouldDelay(0.99))
  t.notOk(f.shouldAbort(0), 'no abort configured')
})

t.test('fractional percentages are honoured', async t => {
  const f = FaultConfig.compile({ delay: { fixedDelay: '1s', percentage: { value: 0.1 } } })
  if (f === null) throw new Error('expected a fault')
  t.ok(f.shouldDelay(0.0009))
  t.notOk(f.shouldDelay(0.001))
})

t.test('the deprecated integer `percent` still works, percentage wins when both are set', async t => {
  const f = FaultConfig.compile({ delay: { fixedDelay: '7s', percent: 100 } })
  if (f === null) throw new Error('expected a fault')
  t.equal(f.delayPercent, 100)
  t.ok(f.shouldDelay(0.999999))
  const g = FaultConfig.compile({ delay: { fixedDelay: '7s', percent: 100, percentage: { value: 10 } } })
  t.equal(g?.delayPercent, 10)
})

t.test('100% abort with an HTTP status', async t => {
  const f = FaultConfig.compile({ abort: { httpStatus: 418, percentage: { value: 100 } } })
  if (f === null) throw new Error('expected a fault')
  t.equal(f.abortStatus, 418)
  t.equal(f.abortGrpcStatus, -1)
  t.ok(f.shouldAbort(0))
  t.ok(f.shouldAbort(0.999999))
  t.notOk(f.shouldDelay(0), 'no delay configured')
})

t.test('abort percentages below 100', async t => {
  const f = FaultConfig.compile({ abort: { httpStatus: 500, percentage: { value: 50 } } })
  if (f === null) throw new Error('expected a fault')
  t.ok(f.shouldAbort(0.49))
  t.notOk(f.shouldAbort(0.5))
})

t.test('gRPC aborts answer HTTP 200 with the gRPC code, by name or number', async t => {
  const byName = FaultConfig.compile({ abort: { grpcStatus: 'UNAVAILABLE', percentage: { value: 100 } } })
  t.equal(byName?.abortStatus, 200)
  t.equal(byName?.abortGrpcStatus, 14)
  const lower = FaultConfig.compile({ abort: { grpcStatus: 'deadline_exceeded', percentage: { value: 100 } } })
  t.equal(lower?.abortGrpcStatus, 4)
  const numeric = FaultConfig.compile({ abort: { grpcStatus: '8', percentage: { value: 100 } } })
  t.equal(numeric?.abortGrpcStatus, 8)
})

t.test('delay and abort together draw independently', async t => {
  const f = FaultConfig.compile({
    delay: { fixedDelay: '100ms', percentage: { value: 50 } },
    abort: { httpStatus: 503, percentage: { value: 10 } }
  })
  if (f === null) throw new Error('expected a fault')
  t.ok(f.shouldDelay(0.3))
  t.notOk(f.shouldAbort(0.3))
  t.ok(f.shouldAbort(0.05))
})
