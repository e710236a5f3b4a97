import t from 'tap'
import { getPortStart, hostMatchesPattern, hostsIntersect, VirtualHostTable } from '../../../src/routing/virtual-host-table'

t.test('precedence: exact > longest suffix > prefix > *', async t => {
  const table = new VirtualHostTable([
    { domains: ['*'], value: 'default' },
    { domains: ['foo.*'], value: 'prefix-foo' },
    { domains: ['foo.bar.*'], value: 'prefix-foo-bar' },
    { domains: ['*.com'], value: 'suffix-com' },
    { domains: ['*.foo.com'], value: 'suffix-foo' },
    { domains: ['*-bar.foo.com'], value: 'suffix-dash-bar' },
    { domains: ['api.foo.com'], value: 'exact-api' },
  ])
  const cases: Array<[string, string | null]> = [
    ['api.foo.com', 'exact-api'],
    ['API.Foo.COM', 'exact-api'], // case-insensitive
    ['a.foo.com', 'suffix-foo'],
    ['a.b.foo.com', 'suffix-foo'], // several labels
    ['x-bar.foo.com', 'suffix-dash-bar'], // longest suffix wins
    ['foo.com', 'suffix-com'], // *.foo.com needs at least one more character
    ['.foo.com', 'suffix-com'],
    ['example.com', 'suffix-com'],
    ['foo.bar.org', 'prefix-foo-bar'], // longest prefix wins
    ['foo.org', 'prefix-foo'],
    ['foo.', 'default'], // foo.* needs at least one more character
    ['foo.com', 'suffix-com'], // suffix beats prefix
    ['other.org', 'default'],
    ['', 'default'],
  ]
  for (const [host, want] of cases) t.equal(table.lookup(host), want, JSON.stringify(host))
})

t.test('no default: null (Envoy 404 NR)', async t => {
  const table = new VirtualHostTable([{ domains: ['a.com'], value: 1 }])
  t.equal(table.lookup('b.com'), null)
  t.equal(new VirtualHostTable<number>([]).lookup('a'), null)
})

t.test('ports: full authority first, then the bare host', async t => {
  const table = new VirtualHostTable([
    { domains: ['reviews', 'reviews.default.svc.cluster.local'], value: 'reviews-any-port' },
    { domains: ['reviews:9080', 'reviews.default.svc.cluster.local:9080'], value: 'reviews-9080' },
    { domains: ['*.example.com:8443'], value: 'example-8443' },
    { domains: ['*.example.com'], value: 'example' },
    { domains: ['10.0.0.1', '[fd00::1]', '[fd00::2]:80'], value: 'vip' },
  ])
  t.equal(table.lookup('reviews:9080'), 'reviews-9080')
  t.equal(table.lookup('reviews:9081'), 'reviews-any-port', 'port stripped when the port form is missing')
  t.equal(table.lookup('reviews'), 'reviews-any-port')
  t.equal(table.lookup('REVIEWS.default.svc.cluster.local:9080'), 'reviews-9080')
  t.equal(table.lookup('a.example.com:8443'), 'example-8443')
  t.equal(table.lookup('a.example.com:80'), 'example')
  t.equal(table.lookup('a.example.com'), 'example')
  t.equal(table.lookup('10.0.0.1:80'), 'vip')
  t.equal(table.lookup('[fd00::1]:80'), 'vip', 'IPv6 with port')
  t.equal(table.lookup('[fd00::1]'), 'vip', 'IPv6 without port: colons inside [] are not a port')
  t.equal(table.lookup('[fd00::2]:80'), 'vip')
  t.equal(table.lookup('[fd00::2]:81'), null)
})

t.test('getPortStart as Envoy', async t => {
  t.equal(getPortStart('a:80'), 1)
  t.equal(getPortStart('a'), -1)
  t.equal(getPortStart('[::1]'), -1)
  t.equal(getPortStart('[::1]:80'), 5)
  t.equal(getPortStart('a:'), 1)
})

t.test('duplicate domains: first wins, reported', async t => {
  const table = new VirtualHostTable([
    { domains: ['a.com', '*.b.com'], value: 1 },
    { domains: ['A.com', '*.b.com', 'c.com'], value: 2 },
  ])
  t.equal(table.lookup('a.com'), 1)
  t.equal(table.lookup('x.b.com'), 1)
  t.equal(table.lookup('c.com'), 2)
  t.same(table.duplicateDomains, ['a.com', '*.b.com'])
})

t.test('hostMatchesPattern (Istio SubsetOf)', async t => {
  const cases: Array<[string, string, boolean]> = [
    ['a.example.com', '*', true],
    ['*', '*', true],
    ['*.example.com', '*', true],
    ['a.example.com', '*.example.com', true],
    ['a.b.example.com', '*.example.com', true],
    ['*.example.com', '*.example.com', true],
    ['*.a.example.com', '*.example.com', true],
    ['example.com', '*.example.com', false],
    ['*.com', '*.example.com', false], // wider than the pattern
    ['*', 'a.example.com', false],
    ['*.example.com', 'a.example.com', false],
    ['a.example.com', 'a.example.com', true],
    ['a.example.com', 'b.example.com', false],
    ['reviews.default.svc.cluster.local', '*.default.svc.cluster.local', true],
    ['reviews.default.svc.cluster.local', '*.svc.cluster.local', true],
    ['reviews.default.svc.cluster.local', '*.prod.svc.cluster.local', false],
  ]
  for (const [host, pattern, want] of cases) t.equal(hostMatchesPattern(host, pattern), want, `${host} ⊆ ${pattern}`)
})

t.test('hostsIntersect (Istio Matches)', async t => {
  const cases: Array<[string, string, boolean]> = [
    ['foo.com', 'foo.com', true],
    ['foo.com', 'bar.com', false],
    ['*.com', 'foo.com', true],
    ['bar.com', '*.com', true],
    ['*.foo.com', 'foo.com', false],
    ['*', 'foo.com', true],
    ['*', '*.com', true],
    ['*.com', '*.foo.com', true],
    ['*.foo.com', '*.com', true],
    ['*.foo.com', '*.bar.com', false],
  ]
  for (const [a, b, want] of cases) {
    t.equal(hostsIntersect(a, b), want, `${a} ∩ ${b}`)
    t.equal(hostsIntersect(b, a), want, `${b} ∩ ${a} (symmetric)`)
  }
})
