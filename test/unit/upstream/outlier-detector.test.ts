import t from 'tap'
import { Host } from '../../../src/upstream/host'
import { HostSet } from '../../../src/upstream/host-set'
import { createLoadBalancer } from '../../../src/upstream/load-balancer'
import {
  NULL_OUTLIER_DETECTOR, OUTLIER_DETECTION_STATS, OutlierDetector, type OutlierDetectionConfig
} from '../../../src/upstream/outlier-detector'
import { FakeClock, seededRandom } from './helpers'

const SECOND = 1000
const MINUTE = 60 * SECOND

function config (over: Partial<OutlierDetectionConfig> = {}): OutlierDetectionConfig {
  return {
    consecutive5xx: 5,
    consecutiveGatewayErrors: null,
    consecutiveLocalOriginFailures: null,
    splitExternalLocalOriginErrors: false,
    intervalMs: 10 * SECOND,
    baseEjectionTimeMs: 30 * SECOND,
    maxEjectionPercent: 10,
    minHealthPercent: 0,
    ...over
  }
}

function hosts (n: number): Host[] {
  return Array.from({ length: n }, (_, i) => new Host(`10.0.0.${i + 1}`, 8080))
}

// The scenario from the issue: two hosts, one answers 500, consecutive5xxErrors 1, interval 1s,
// baseEjectionTime 3m, maxEjectionPercent 100.
function seedScenario (): { clock: FakeClock, good: Host, bad: Host, set: HostSet, od: OutlierDetector } {
  const clock = new FakeClock()
  const [good, bad] = hosts(2)
  const set = new HostSet([good, bad], 0)
  const od = new OutlierDetector(config({
    consecutive5xx: 1, intervalMs: 1 * SECOND, baseEjectionTimeMs: 3 * MINUTE, maxEjectionPercent: 100
  }), set, clock)
  return { clock, good, bad, set, od }
}

t.test('seed scenario: one 500 ejects the bad host, the LB never picks it, it returns after 3 min', async t => {
  const { clock, good, bad, set, od } = seedScenario()
  const lb = createLoadBalancer({ kind: 'ROUND_ROBIN' }, set, seededRandom(1))
  const ctx = { hashKey: null, attempted: null }

  od.putHttpResponseCode(good, 200)
  od.putHttpResponseCode(bad, 500)
  t.ok(bad.ejected, 'ejected at once, without waiting for the interval')
  t.equal(bad.ejectionCount, 1)
  t.equal(od.ejectionsActive, 1)
  t.equal(od.ejectionsEnforcedTotal, 1)
  t.equal(od.ejectionsEnforcedConsecutive5xx, 1)
  t.equal(bad.ejectedUntil, 3 * MINUTE)

  let goodPicks = 0
  for (let i = 0; i < 1000; i++) if (lb.chooseHost(ctx) === good) goodPicks++
  t.equal(goodPicks, 1000, 'never the ejected host')
  clock.advance(3 * MINUTE - 1)
  t.ok(bad.ejected, 'still out 1 ms before 3 min')
  for (let i = 0; i < 100; i++) if (lb.chooseHost(ctx) === bad) t.fail('picked while ejected')
  clock.advance(1)
  t.notOk(bad.ejected, 'back at 3 min, on the interval tick')
  t.equal(od.ejectionsActive, 0)
  const seen = new Set()
  for (let i = 0; i < 10; i++) seen.add(lb.chooseHost(ctx))
  t.ok(seen.has(bad), 'the LB uses it again')
  od.close()
})

t.test('seed scenario: the second ejection doubles, capped by Envoy max_ejection_time (300 s)', async t => {
  const { clock, bad, od } = seedScenario()
  od.putHttpResponseCode(bad, 500)
  clock.advance(3 * MINUTE)
  t.notOk(bad.ejected)
  // It still answers 500, so the first request after its return ejects it again.
  od.putHttpResponseCode(bad, 500)
  t.ok(bad.ejected)
  t.equal(bad.ejectionCount, 2)
  t.equal(bad.ejectTimeBackoff, 2)
  // base × 2 = 6 min, but Envoy caps at max(300 s, base) = 5 min. Istio does not expose
  // max_ejection_time, so an Istio mesh sees 5 min here, and so does Ferry.
  t.equal(bad.ejectedUntil - clock.now(), 5 * MINUTE)
  clock.advance(5 * MINUTE - 1)
  t.ok(bad.ejected)
  clock.advance(1)
  t.notOk(bad.ejected, 'back after 5 min')
  t.equal(od.ejectionsEnforcedTotal, 2)
  od.close()
})

t.test('second ejection lasts 2 × base when under the cap (6 min with maxEjectionTime 10 min)', async t => {
  const clock = new FakeClock()
  const [good, bad] = hosts(2)
  const set = new HostSet([good, bad])
  const od = new OutlierDetector(config({
    consecutive5xx: 1, intervalMs: SECOND, baseEjectionTimeMs: 3 * MINUTE, maxEjectionPercent: 100, maxEjectionTimeMs: 10 * MINUTE
  }), set, clock)
  od.putHttpResponseCode(bad, 500)
  clock.advance(3 * MINUTE)
  od.putHttpResponseCode(bad, 500)
  t.equal(bad.ejectedUntil - clock.now(), 6 * MINUTE)
  clock.advance(6 * MINUTE - 1)
  t.ok(bad.ejected)
  clock.advance(1)
  t.notOk(bad.ejected)
  od.close()
})

t.test('backoff decays while the host stays healthy (Envoy decrements once per interval)', async t => {
  const clock = new FakeClock()
  const [good, bad] = hosts(2)
  const set = new HostSet([good, bad])
  const od = new OutlierDetector(config({ consecutive5xx: 1, intervalMs: 10 * SECOND, maxEjectionPercent: 100 }), set, clock)
  od.putHttpResponseCode(bad, 500) // backoff 1, 30 s
  clock.advance(30 * SECOND)
  od.putHttpResponseCode(bad, 500) // backoff 2, 60 s
  t.equal(bad.ejectedUntil - clock.now(), 60 * SECOND)
  clock.advance(60 * SECOND)
  t.notOk(bad.ejected)
  t.equal(bad.ejectTimeBackoff, 2, 'not decremented on the tick that restored it')
  clock.advance(10 * SECOND)
  t.equal(bad.ejectTimeBackoff, 1)
  clock.advance(10 * SECOND)
  t.equal(bad.ejectTimeBackoff, 0)
  od.putHttpResponseCode(bad, 500)
  t.equal(bad.ejectedUntil - clock.now(), 30 * SECOND, 'forgiven: back to one base ejection time')
  t.equal(bad.ejectionCount, 3, 'ejectionCount is the lifetime total')
  od.close()
})

t.test('maxEjectionPercent 50 with 2 bad hosts of 2 ejects only one and counts the overflow', async t => {
  const clock = new FakeClock()
  const [a, b] = hosts(2)
  const set = new HostSet([a, b])
  const od = new OutlierDetector(config({ consecutive5xx: 1, maxEjectionPercent: 50 }), set, clock)
  od.putHttpResponseCode(a, 500)
  od.putHttpResponseCode(b, 500)
  t.ok(a.ejected)
  t.notOk(b.ejected)
  t.equal(od.ejectionsActive, 1)
  t.equal(od.ejectionsOverflow, 1)
  t.equal(od.ejectionsEnforcedTotal, 1)
  t.equal(od.ejectionsDetectedConsecutive5xx, 2)
  const lb = createLoadBalancer({ kind: 'LEAST_REQUEST' }, set, seededRandom(2))
  for (let i = 0; i < 50; i++) if (lb.chooseHost({ hashKey: null, attempted: null }) !== b) t.fail('picked the ejected host')
  od.close()
})

t.test('default maxEjectionPercent 10 never ejects in a cluster of fewer than 10 hosts (Envoy)', async t => {
  const clock = new FakeClock()
  const hs = hosts(3)
  const od = new OutlierDetector(config({ consecutive5xx: 1 }), new HostSet(hs), clock)
  od.putHttpResponseCode(hs[0], 503)
  t.notOk(hs[0].ejected)
  t.equal(od.ejectionsOverflow, 1)
  const ten = hosts(10)
  const od10 = new OutlierDetector(config({ consecutive5xx: 1 }), new HostSet(ten), clock)
  od10.putHttpResponseCode(ten[0], 503)
  od10.putHttpResponseCode(ten[1], 503)
  t.ok(ten[0].ejected, '1 of 10 = 10% is allowed')
  t.notOk(ten[1].ejected, '2 of 10 is not')
  od.close()
  od10.close()
})

t.test('consecutive means consecutive: a success resets the count', async t => {
  const clock = new FakeClock()
  const hs = hosts(2)
  const od = new OutlierDetector(config({ consecutive5xx: 3, maxEjectionPercent: 100 }), new HostSet(hs), clock)
  const h = hs[0]
  od.putHttpResponseCode(h, 500)
  od.putHttpResponseCode(h, 502)
  od.putHttpResponseCode(h, 200)
  od.putHttpResponseCode(h, 500)
  od.putHttpResponseCode(h, 500)
  t.notOk(h.ejected)
  t.equal(h.consecutive5xx, 2)
  od.putHttpResponseCode(h, 404)
  t.equal(h.consecutive5xx, 0, '4xx is not an error for outlier detection')
  od.putHttpResponseCode(h, 500)
  od.putHttpResponseCode(h, 500)
  od.putHttpResponseCode(h, 500)
  t.ok(h.ejected)
  t.equal(h.consecutive5xx, 0, 'reset after the ejection')
  od.close()
})

t.test('consecutiveGatewayErrors counts only 502/503/504 and wins over 5xx on the same response', async t => {
  const clock = new FakeClock()
  const hs = hosts(2)
  const od = new OutlierDetector(config({ consecutive5xx: 2, consecutiveGatewayErrors: 2, maxEjectionPercent: 100 }), new HostSet(hs), clock)
  const [a, b] = hs
  od.putHttpResponseCode(a, 500)
  t.equal(a.consecutiveGatewayFailure, 0)
  od.putHttpResponseCode(a, 503)
  t.ok(a.ejected, '5xx threshold hit (500, 503)')
  t.equal(od.ejectionsEnforcedConsecutive5xx, 1)
  od.putHttpResponseCode(b, 503)
  od.putHttpResponseCode(b, 504)
  t.equal(od.ejectionsEnforcedConsecutiveGatewayFailure, 1, 'both thresholds hit: gateway is reported')
  t.equal(od.ejectionsDetectedConsecutive5xx, 1, 'the 5xx trigger found the host already ejected')
  t.equal(od.ejectionsEnforcedTotal, 2)
  od.close()
})

t.test('consecutive5xx null disables 5xx ejection; gateway errors alone still eject', async t => {
  const clock = new FakeClock()
  const hs = hosts(2)
  const od = new OutlierDetector(config({ consecutive5xx: null, consecutiveGatewayErrors: 2, maxEjectionPercent: 100 }), new HostSet(hs), clock)
  for (let i = 0; i < 10; i++) od.putHttpResponseCode(hs[0], 500)
  t.notOk(hs[0].ejected)
  od.putHttpResponseCode(hs[1], 502)
  od.putHttpResponseCode(hs[1], 502)
  t.ok(hs[1].ejected)
  od.close()
})

t.test('local-origin failures without split count as 503/504', async t => {
  const clock = new FakeClock()
  const hs = hosts(3)
  const od = new OutlierDetector(config({ consecutive5xx: 3, consecutiveGatewayErrors: null, maxEjectionPercent: 100 }), new HostSet(hs), clock)
  const h = hs[0]
  od.putLocalOriginFailure(h, 'connect-failure')
  od.putLocalOriginSuccess(h)
  t.equal(h.consecutive5xx, 1, 'a successful connect does not reset the 5xx run')
  od.putLocalOriginFailure(h, 'reset')
  od.putLocalOriginFailure(h, 'timeout')
  t.ok(h.ejected)
  t.equal(od.ejectionsEnforcedConsecutive5xx, 1)

  const od2 = new OutlierDetector(config({ consecutive5xx: null, consecutiveGatewayErrors: 2, maxEjectionPercent: 100 }), new HostSet(hs), clock)
  od2.putLocalOriginFailure(hs[1], 'timeout')
  od2.putLocalOriginFailure(hs[1], 'connect-failure')
  t.ok(hs[1].ejected, '503 and 504 are gateway errors')
  od.close()
  od2.close()
})

t.test('splitExternalLocalOriginErrors: local failures have their own counter', async t => {
  const clock = new FakeClock()
  const hs = hosts(2)
  const od = new OutlierDetector(config({
    consecutive5xx: 2, consecutiveLocalOriginFailures: 2, splitExternalLocalOriginErrors: true, maxEjectionPercent: 100
  }), new HostSet(hs), clock)
  const h = hs[0]
  od.putLocalOriginFailure(h, 'connect-failure')
  t.equal(h.consecutive5xx, 0, 'not an HTTP error any more')
  od.putLocalOriginSuccess(h)
  t.equal(h.consecutiveLocalOriginFailure, 0, 'a successful connect resets it')
  od.putLocalOriginFailure(h, 'connect-failure')
  od.putHttpResponseCode(h, 200)
  t.equal(h.consecutiveLocalOriginFailure, 1, 'an HTTP success does not reset the local-origin run')
  od.putLocalOriginFailure(h, 'timeout')
  t.ok(h.ejected)
  t.equal(od.ejectionsEnforcedConsecutiveLocalOriginFailure, 1)
  od.close()
})

t.test('panic: below minHealthPercent the LB balances over all hosts and counts lb_healthy_panic', async t => {
  const clock = new FakeClock()
  const [good, bad] = hosts(2)
  const set = new HostSet([good, bad], 60)
  const od = new OutlierDetector(config({ consecutive5xx: 1, maxEjectionPercent: 100, minHealthPercent: 60 }), set, clock)
  const lb = createLoadBalancer({ kind: 'ROUND_ROBIN' }, set, seededRandom(3))
  od.putHttpResponseCode(bad, 500)
  t.ok(bad.ejected)
  t.ok(set.inPanic, '50% healthy < 60%')
  const seen = new Set()
  for (let i = 0; i < 10; i++) seen.add(lb.chooseHost({ hashKey: null, attempted: null }))
  t.ok(seen.has(bad), 'in panic the ejected host is used again')
  t.equal(set.lbHealthyPanic, 10)
  clock.advance(30 * SECOND)
  t.notOk(set.inPanic)
  od.close()
})

t.test('panic disabled (minHealthPercent 0): every host ejected => no host (503 UH)', async t => {
  const { bad, good, set, od } = seedScenario()
  od.putHttpResponseCode(bad, 500)
  od.putHttpResponseCode(good, 500)
  t.ok(good.ejected && bad.ejected, 'maxEjectionPercent 100 allows ejecting all')
  const lb = createLoadBalancer({ kind: 'LEAST_REQUEST' }, set, seededRandom(4))
  t.equal(lb.chooseHost({ hashKey: null, attempted: null }), null)
  t.equal(set.lbHealthyPanic, 0)
  od.close()
})

t.test('late responses for an ejected or removed host are ignored', async t => {
  const clock = new FakeClock()
  const hs = hosts(3)
  const set = new HostSet(hs)
  const od = new OutlierDetector(config({ consecutive5xx: 1, maxEjectionPercent: 100 }), set, clock)
  od.putHttpResponseCode(hs[0], 500)
  od.putHttpResponseCode(hs[0], 500)
  t.equal(hs[0].ejectionCount, 1)
  t.equal(od.ejectionsEnforcedTotal, 1)
  set.update([hs[0], hs[1]])
  od.putHttpResponseCode(hs[2], 500)
  t.notOk(hs[2].ejected, 'no longer a member')
  set.update([hs[1]])
  t.equal(od.ejectionsActive, 0, 'removing an ejected host drops it from ejections_active')
  od.close()
})

t.test('timer: unref-ed at start, stopped by close()', async t => {
  const clock = new FakeClock()
  const od = new OutlierDetector(config(), new HostSet(hosts(1)), clock)
  t.equal(clock.activeTimers, 1)
  t.ok(clock.timers[0].unrefed)
  od.close()
  od.close()
  t.equal(clock.activeTimers, 0)
})

t.test('invalid configuration is rejected', async t => {
  const set = new HostSet(hosts(1))
  const clock = new FakeClock()
  t.throws(() => new OutlierDetector(config({ intervalMs: 0 }), set, clock), RangeError)
  t.throws(() => new OutlierDetector(config({ baseEjectionTimeMs: 0 }), set, clock), RangeError)
  t.throws(() => new OutlierDetector(config({ maxEjectionPercent: 101 }), set, clock), RangeError)
  t.throws(() => new OutlierDetector(config({ baseEjectionTimeMs: 60_000, maxEjectionTimeMs: 1000 }), set, clock), RangeError)
})

t.test('the real clock works and does not keep the process alive', async t => {
  const od = new OutlierDetector(config({ intervalMs: 5 }), new HostSet(hosts(1)))
  await new Promise(resolve => setTimeout(resolve, 20))
  od.close()
  t.pass()
})

t.test('NULL_OUTLIER_DETECTOR accepts every report and never ejects', async t => {
  const h = new Host('10.0.0.1', 80)
  for (let i = 0; i < 100; i++) NULL_OUTLIER_DETECTOR.putHttpResponseCode(h, 503)
  NULL_OUTLIER_DETECTOR.putLocalOriginFailure(h, 'reset')
  NULL_OUTLIER_DETECTOR.putLocalOriginSuccess(h)
  NULL_OUTLIER_DETECTOR.close()
  t.notOk(h.ejected)
  t.equal(h.consecutive5xx, 0)
  t.equal(NULL_OUTLIER_DETECTOR.ejectionsActive, 0)
})

t.test('stats table names every stat field of the detector', async t => {
  const od = new OutlierDetector(config(), new HostSet(hosts(1)), new FakeClock())
  for (const s of OUTLIER_DETECTION_STATS) {
    t.equal(typeof od[s.field], 'number', s.name)
    t.equal(typeof NULL_OUTLIER_DETECTOR[s.field], 'number', s.name)
  }
  od.close()
})
