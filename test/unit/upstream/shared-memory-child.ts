// Child process for shared-memory.test.ts: maps the segment and hammers it.
import { SharedSegment, KIND_CLUSTER, HEADER_INTS } from '../../../src/upstream/shared-memory'
import { SharedResourceLimit } from '../../../src/upstream/shared-circuit-breaker'

const [file, workerArg, itersArg, limitArg, mode] = process.argv.slice(2)
const worker = Number(workerArg)
const iters = Number(itersArg)
const limit = Number(limitArg)
const seg = SharedSegment.attach(file)
const b = seg.entry(KIND_CLUSTER, 'outbound|80||hammer.default.svc.cluster.local')
const r = new SharedResourceLimit(seg, b, worker, 0, limit)
const unlimited = new SharedResourceLimit(seg, b, worker, 2, Infinity)
let over = 0
let taken = 0
if (mode === 'leak') {
  r.inc()
  r.inc()
  process.send?.({ entry: b, over, taken })
} else {
  for (let i = 0; i < iters; i++) {
    if (r.tryInc()) {
      taken++
      if (r.count > limit) over++
      r.dec()
    }
    unlimited.inc()
    // A plain counter word after the header: Atomics.add must not lose updates across processes.
    Atomics.add(seg.i32, HEADER_INTS - 1, 1)
    unlimited.dec()
  }
  process.send?.({ entry: b, over, taken })
}
