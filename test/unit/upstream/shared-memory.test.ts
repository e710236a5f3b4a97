import t from 'tap'
import { fork } from 'node:child_process'
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { tmpdir } from 'node:os'
import { randomBytes } from 'node:crypto'
import {
  SharedSegment, KIND_CLUSTER, KIND_HOST, HEADER_INTS, C_TOTALS, sharedMemoryUnavailableReason
} from '../../../src/upstream/shared-memory'
import { SharedResourceLimit } from '../../../src/upstream/shared-circuit-breaker'
import { SharedOutlierDetector } from '../../../src/upstream/shared-outlier-detector'
import { Host } from '../../../src/upstream/host'
import { HostSet } from '../../../src/upstream/host-set'
import { createLoadBalancer } from '../../../src/upstream/load-balancer'
import type { Clock } from '../../../src/upstream/outlier-detector'

const unavailable = sharedMemoryUnavailableReason()
if (unavailable !== null) {
  t.skip(`shared memory unavailable: ${unavailable}`)
} else {
  const dir = existsSync('/dev/shm') ? '/dev/shm' : tmpdir()
  const newSegment = (t: { teardown: (fn: () => void) => void }, maxWorkers = 4): SharedSegment => {
    const seg = SharedSegment.create(join(dir, `ferry-test-${process.pid}-${randomBytes(4).toString('hex')}`), { maxWorkers, entries: 64 })
    t.teardown(() => seg.unlink())
    return seg
  }
  type Report = { entry: number, over: number, taken: number }
  const child = (args: string[]): Promise<Report> => new Promise((resolve, reject) => {
    const c = fork(join(__dirname, 'fixtures', 'shared-memory-child.ts'), args, { execArgv: process.execArgv, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
    let report: Report | null = null
    c.on('message', m => { report = m as Report })
    c.on('error', reject)
    c.on('exit', code => (code === 0 && report !== null ? resolve(report) : reject(new Error(`child exited ${code}`))))
  })

  t.test('ResourceLimit in shared memory: 4 processes hammering tryInc/inc/dec end exact and never exceed the limit', async t => {
    const seg = newSegment(t)
    const iters = 100_000
    const limit = 3
    const reports = await Promise.all([0, 1, 2, 3].map(w => child([seg.file, String(w), String(iters), String(limit), 'hammer'])))
    const b = seg.entry(KIND_CLUSTER, 'outbound|80||hammer.default.svc.cluster.local')
    t.ok(reports.every(r => r.entry === b), 'every process found the same entry for the cluster name')
    t.equal(reports.reduce((n, r) => n + r.over, 0), 0, 'no process ever saw the count above the limit after taking a slot')
    t.ok(reports.every(r => r.taken > 0), 'every process got slots')
    t.equal(seg.i32[b + C_TOTALS + 0], 0, 'limited total back to 0')
    t.equal(seg.i32[b + C_TOTALS + 2], 0, 'unlimited total back to 0')
    t.equal(seg.i32[HEADER_INTS - 1], 4 * iters, 'Atomics.add on the mapped (non-Shared) ArrayBuffer lost no update across processes')
  })

  t.test('a dead worker\'s held slots are reclaimed by the primary', async t => {
    const seg = newSegment(t)
    const r = await child([seg.file, '2', '0', '5', 'leak'])
    t.equal(seg.i32[r.entry + C_TOTALS], 2, 'the leaked slots are counted')
    const mine = new SharedResourceLimit(seg, r.entry, 0, 0, 5)
    t.ok(mine.tryInc())
    t.equal(mine.count, 3)
    seg.reclaimWorker(2)
    t.equal(mine.count, 1, 'only the live worker\'s slot remains')
    mine.dec()
    t.equal(mine.count, 0)
    t.throws(() => mine.dec(), /without a matching inc/, 'an unbalanced dec in this worker is caught even when others hold slots')
  })

  t.test('entries: same name same entry, kinds apart, full table answers -1', async t => {
    const seg = newSegment(t)
    const a = seg.entry(KIND_CLUSTER, 'c')
    t.equal(seg.entry(KIND_CLUSTER, 'c'), a)
    t.not(seg.entry(KIND_HOST, 'c'), a)
    const other = SharedSegment.attach(seg.file)
    t.equal(other.entry(KIND_CLUSTER, 'c'), a, 'another mapping finds it by name')
    for (let i = 0; i < 62; i++) t.not(seg.entry(KIND_HOST, `h${i}`), -1)
    t.equal(seg.entry(KIND_HOST, 'one too many'), -1)
  })

  t.test('outlier ejection decided in one worker is honoured by the other worker\'s load balancer at once', async t => {
    const seg = newSegment(t, 2)
    let now = 1000
    const clock: Clock = { now: () => now, setInterval: () => ({}), clearInterval: () => {} }
    const config = {
      consecutive5xx: 3, consecutiveGatewayErrors: null, consecutiveLocalOriginFailures: null, splitExternalLocalOriginErrors: false,
      intervalMs: 1000, baseEjectionTimeMs: 30_000, maxEjectionPercent: 100, minHealthPercent: 0
    }
    const name = 'outbound|80||o.default.svc.cluster.local'
    const workerView = (w: number): { hosts: Host[], set: HostSet, det: SharedOutlierDetector, lb: ReturnType<typeof createLoadBalancer> } => {
      const hosts = [new Host('10.0.0.1', 80), new Host('10.0.0.2', 80)]
      const set = new HostSet(hosts, 0)
      const det = new SharedOutlierDetector(config, set, seg, seg.entry(KIND_CLUSTER, name), name, w, clock)
      return { hosts, set, det, lb: createLoadBalancer({ kind: 'ROUND_ROBIN' } as never, set, () => 0.5) }
    }
    const a = workerView(0)
    const b = workerView(1)
    // Consecutive errors add up across workers: 2 in A and 1 in B make 3.
    a.det.putHttpResponseCode(a.hosts[0], 503)
    a.det.putHttpResponseCode(a.hosts[0], 500)
    b.det.putHttpResponseCode(b.hosts[0], 502)
    t.equal(b.det.ejectionsEnforcedTotal, 1, 'the worker that saw the third error ejected')
    t.equal(a.det.ejectionsEnforcedTotal, 0)
    for (let i = 0; i < 6; i++) t.equal(a.lb.chooseHost({ hashKey: null, attempted: null, originalDst: null })?.key, '10.0.0.2:80', 'A never picks the host B ejected')
    t.equal(a.hosts[0].ejected, true)
    t.equal(a.det.ejectionsActive, 1)
    // Back after the ejection time, on an interval tick of either worker.
    now += 30_000
    a.det.onIntervalTimer()
    const picked = new Set<string>()
    for (let i = 0; i < 4; i++) picked.add(b.lb.chooseHost({ hashKey: null, attempted: null, originalDst: null })?.key ?? '')
    t.same([...picked].sort(), ['10.0.0.1:80', '10.0.0.2:80'], 'B balances over both again')
    a.det.close()
    b.det.close()
  })
}
