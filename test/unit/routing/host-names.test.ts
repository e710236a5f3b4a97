import t from 'tap'
import { fqdn, sidecarDomains } from '../../../src/routing/host-names'

t.test('fqdn follows Istio ResolveShortnameToFQDN', async t => {
  t.equal(fqdn('reviews', 'default'), 'reviews.default.svc.cluster.local')
  t.equal(fqdn('reviews', 'prod', 'corp.local'), 'reviews.prod.svc.corp.local')
  t.equal(fqdn('reviews.prod', 'default'), 'reviews.prod', 'any dot: unchanged (Istio does not expand name.ns)')
  t.equal(fqdn('reviews.prod.svc.cluster.local', 'default'), 'reviews.prod.svc.cluster.local')
  t.equal(fqdn('api.example.com', 'default'), 'api.example.com')
  t.equal(fqdn('*', 'default'), '*')
  t.equal(fqdn('*.example.com', 'default'), '*.example.com')
  t.equal(fqdn('10.0.0.1', 'default'), '10.0.0.1')
  t.equal(fqdn('fd00::1', 'default'), 'fd00::1')
  t.equal(fqdn('', 'default'), '')
  t.equal(fqdn('reviews', ''), 'reviews.svc.cluster.local', 'no namespace: Istio skips that part')
})

t.test('sidecarDomains, same namespace', async t => {
  t.same(sidecarDomains('reviews.default.svc.cluster.local', 9080, 'default', ['10.96.0.10']), [
    'reviews.default.svc.cluster.local',
    'reviews.default.svc.cluster.local:9080',
    'reviews.default.svc.cluster.local.',
    'reviews.default.svc.cluster.local.:9080',
    'reviews',
    'reviews:9080',
    'reviews.default.svc',
    'reviews.default.svc:9080',
    'reviews.default',
    'reviews.default:9080',
    '10.96.0.10',
    '10.96.0.10:9080',
  ])
})

t.test('sidecarDomains, other namespace: no bare name', async t => {
  const d = sidecarDomains('reviews.prod.svc.cluster.local', 9080, 'default', ['10.96.0.11'])
  t.same(d, [
    'reviews.prod.svc.cluster.local',
    'reviews.prod.svc.cluster.local:9080',
    'reviews.prod.svc.cluster.local.',
    'reviews.prod.svc.cluster.local.:9080',
    'reviews.prod',
    'reviews.prod:9080',
    'reviews.prod.svc',
    'reviews.prod.svc:9080',
    '10.96.0.11',
    '10.96.0.11:9080',
  ])
  t.notOk(d.includes('reviews'))
})

t.test('sidecarDomains, port 0: no port variants (ignore_port_in_host_matching style)', async t => {
  t.same(sidecarDomains('reviews.default.svc.cluster.local', 0, 'default', []), [
    'reviews.default.svc.cluster.local',
    'reviews.default.svc.cluster.local.',
    'reviews',
    'reviews.default.svc',
    'reviews.default',
  ])
})

t.test('sidecarDomains, non-Kubernetes host: no short forms', async t => {
  t.same(sidecarDomains('api.example.com', 443, 'default', ['240.240.0.1']), [
    'api.example.com',
    'api.example.com:443',
    'api.example.com.',
    'api.example.com.:443',
    '240.240.0.1',
    '240.240.0.1:443',
  ])
  t.same(sidecarDomains('reviews.default.svc.corp.local', 80, 'default', [], 'cluster.local').slice(4), [], 'other domain suffix')
  t.same(sidecarDomains('reviews.default.svc.corp.local', 80, 'default', [], 'corp.local')[4], 'reviews')
})

t.test('sidecarDomains, VIPs', async t => {
  t.same(sidecarDomains('a.default.svc.cluster.local', 80, 'default', ['fd00::10', '0.0.0.0', '']).slice(-2), ['[fd00::10]', '[fd00::10]:80'], 'IPv6 bracketed, unspecified skipped')
  t.same(sidecarDomains('a.default.svc.cluster.local', 80, 'default', ['10.0.0.1', '10.0.0.1']).filter(d => d.startsWith('10.')), ['10.0.0.1', '10.0.0.1:80'], 'deduplicated')
})
