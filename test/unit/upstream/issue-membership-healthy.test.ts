// membership_healthy was set once when a cluster was built and never followed ejections.
import t from 'tap'
import { Host } from '../../../src/upstream/host'
import { HostSet } from '../../../src/upstream/host-set'

t.test('the healthy gauge follows ejections and returns', async t => {
  const hosts = [new Host('127.0.0.1', 1), new Host('127.0.0.1', 2), new Host('127.0.0.1', 3)]
  const set = new HostSet(hosts)
  let gauge = -1
  set.healthyGauge = { set: (v: number) => { gauge = v } }
  hosts[0].ejected = true
  set.healthChanged()
  t.equal(gauge, 2, 'one host ejected: two healthy')
  hosts[1].ejected = true
  set.healthChanged()
  t.equal(gauge, 1)
  hosts[0].ejected = false
  hosts[1].ejected = false
  set.healthChanged()
  t.equal(gauge, 3, 'both returned')
})
