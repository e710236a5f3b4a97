import t from 'tap'
import { CircuitBreakers, ResourceLimit, UNLIMITED_CIRCUIT_BREAKER_LIMITS } from '../../../src/upstream/circuit-breaker'

t.test('ResourceLimit counts up to its limit and opens there', async t => {
  const r = new ResourceLimit(2)
  t.equal(r.count, 0)
  t.equal(r.remaining, 2)
  t.equal(r.open, 0)
  t.ok(r.canCreate())
  r.inc()
  t.ok(r.canCreate())
  t.equal(r.remaining, 1)
  r.inc()
  t.notOk(r.canCreate(), 'at the limit')
  t.equal(r.open, 1)
  t.equal(r.remaining, 0)
  r.dec()
  t.ok(r.canCreate(), 'closes again after a release')
  t.equal(r.open, 0)
  t.equal(r.count, 1)
})

t.test('ResourceLimit(0) never allows a resource', async t => {
  const r = new ResourceLimit(0)
  t.notOk(r.canCreate())
  t.equal(r.open, 1)
  t.equal(r.remaining, 0)
})

t.test('Infinity means unlimited', async t => {
  const r = new ResourceLimit(Infinity)
  for (let i = 0; i < 10000; i++) r.inc()
  t.ok(r.canCreate())
  t.equal(r.open, 0)
  t.equal(r.remaining, Infinity)
})

t.test('remaining never goes negative when inc() ignored canCreate()', async t => {
  // The pool may take a resource past the limit on purpose (e.g. a retry already admitted).
  const r = new ResourceLimit(1)
  r.inc()
  r.inc()
  t.equal(r.remaining, 0)
  t.equal(r.open, 1)
})

t.test('dec() without inc() is a caller bug and throws', async t => {
  const r = new ResourceLimit(3)
  t.throws(() => r.dec(), /without a matching inc/)
})

t.test('invalid limits are rejected at construction', async t => {
  t.throws(() => new ResourceLimit(-1), RangeError)
  t.throws(() => new ResourceLimit(1.5), RangeError)
  t.throws(() => new ResourceLimit(Number.NaN), RangeError)
})

t.test('CircuitBreakers: four independent limits and their gauges', async t => {
  const cb = new CircuitBreakers({ maxConnections: 1, maxPendingRequests: 2, maxRequests: 3, maxRetries: 0 })
  t.equal(cb.connections.max, 1)
  t.equal(cb.pendingRequests.max, 2)
  t.equal(cb.requests.max, 3)
  t.equal(cb.retries.max, 0)
  t.same([cb.cxOpen, cb.rqPendingOpen, cb.rqOpen, cb.rqRetryOpen], [0, 0, 0, 1])
  t.same([cb.remainingCx, cb.remainingPending, cb.remainingRq, cb.remainingRetries], [1, 2, 3, 0])

  // The httpbin circuit-breaking task from Istio's docs: maxConnections 1, http1MaxPendingRequests 1.
  cb.connections.inc()
  t.equal(cb.cxOpen, 1, 'cx_open once the only connection is up')
  t.equal(cb.remainingCx, 0)
  t.ok(cb.pendingRequests.canCreate(), 'the next request can still wait as pending')
  cb.pendingRequests.inc()
  cb.pendingRequests.inc()
  t.notOk(cb.pendingRequests.canCreate(), 'a third one overflows (503 UO)')
  t.equal(cb.rqPendingOpen, 1)
  t.equal(cb.rqOpen, 0, 'the other limits are untouched')
  cb.pendingRequests.dec()
  cb.pendingRequests.dec()
  cb.connections.dec()
  t.same([cb.cxOpen, cb.rqPendingOpen, cb.rqOpen], [0, 0, 0])
})

t.test('unlimited defaults', async t => {
  const cb = new CircuitBreakers(UNLIMITED_CIRCUIT_BREAKER_LIMITS)
  t.ok(cb.connections.canCreate() && cb.pendingRequests.canCreate() && cb.requests.canCreate() && cb.retries.canCreate())
  t.equal(cb.remainingRetries, Infinity)
})
