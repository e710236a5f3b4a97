// One good and one bad document per validation rule: the bad one must be rejected with an error
// at the exact field path, with a message that says why; the good one must raise no error.
import t from 'tap'
import { analyzeReferences, validateDocument } from '../../../src/config/validate'
import { emptyConfigSet, loadText } from '../../../src/config/load'
import type { Diagnostic } from '../../../src/config/types'

type Spec = Record<string, unknown>
const WHERE = { file: 'test.yaml', document: 3 }

function doc (kind: string, spec: Spec | undefined, name = 'x', extra: Spec = {}): Record<string, unknown> {
  const d: Record<string, unknown> = { apiVersion: 'networking.istio.io/v1', kind, metadata: { name, namespace: 'default' }, ...extra }
  if (spec !== undefined) d.spec = spec
  return d
}

const errors = (ds: Diagnostic[]): Diagnostic[] => ds.filter(d => d.severity === 'error')
const show = (ds: Diagnostic[]): string => ds.map(d => `${d.severity} ${d.field}: ${d.message}`).join('\n') || '(none)'

interface Case {
  rule: string
  good: Record<string, unknown>
  bad: Record<string, unknown>
  field: string
  message: string
}

// Small building blocks so each case shows only what it is about.
const route = (extra: Spec = {}): Spec => ({ route: [{ destination: { host: 'reviews' } }], ...extra })
const vs = (http: Spec[], top: Spec = {}): Record<string, unknown> => doc('VirtualService', { hosts: ['reviews'], http, ...top })
const server = (extra: Spec = {}): Spec => ({ port: { number: 80, name: 'http', protocol: 'HTTP' }, hosts: ['*.example.com'], ...extra })
const gw = (servers: Spec[], name = 'gw'): Record<string, unknown> => doc('Gateway', { selector: { istio: 'ingressgateway' }, servers }, name)
const dr = (spec: Spec): Record<string, unknown> => doc('DestinationRule', { host: 'reviews', ...spec })
const lb = (loadBalancer: Spec): Record<string, unknown> => dr({ trafficPolicy: { loadBalancer } })
const se = (spec: Spec): Record<string, unknown> => doc('ServiceEntry', { hosts: ['api.example.com'], ...spec })
const we = (spec: Spec): Record<string, unknown> => doc('WorkloadEntry', spec)

const cases: Case[] = [
  // ------------------------------------------------------------ document level
  { rule: 'metadata.name is required', good: doc('WorkloadEntry', { address: '1.2.3.4' }), bad: { ...doc('WorkloadEntry', { address: '1.2.3.4' }), metadata: { namespace: 'default' } }, field: 'metadata.name', message: 'Required value' },
  { rule: 'unknown top-level field', good: doc('WorkloadEntry', { address: '1.2.3.4' }, 'x', { status: {}, _err: 'test metadata' }), bad: doc('WorkloadEntry', { address: '1.2.3.4' }, 'x', { extra: 1 }), field: 'extra', message: 'unknown field "extra"' },
  { rule: 'unknown spec field (legacy `discovery`)', good: se({ resolution: 'DNS' }), bad: se({ discovery: 'DNS' }), field: 'spec.discovery', message: 'unknown field "discovery"' },
  { rule: 'field types', good: se({ ports: [{ number: 80, name: 'http' }] }), bad: se({ ports: [{ number: '80', name: 'http' }] }), field: 'spec.ports[0].number', message: 'must be of type integer' },
  { rule: 'enum values', good: se({ resolution: 'STATIC' }), bad: se({ resolution: 'STATICS' }), field: 'spec.resolution', message: 'Unsupported value: "STATICS"' },
  { rule: 'namespace is a DNS label', good: doc('WorkloadEntry', { address: '1.2.3.4' }), bad: { ...doc('WorkloadEntry', { address: '1.2.3.4' }), metadata: { name: 'x', namespace: 'Bad_NS' } }, field: 'metadata.namespace', message: 'DNS-1123' },

  // ------------------------------------------------------------ VirtualService
  { rule: 'hosts valid domains', good: vs([route()]), bad: doc('VirtualService', { hosts: ['bad_host'], http: [route()] }), field: 'spec.hosts[0]', message: 'label "bad_host" invalid' },
  { rule: 'no `*` host for the mesh', good: doc('VirtualService', { hosts: ['*'], gateways: ['gw'], http: [route()] }), bad: doc('VirtualService', { hosts: ['*'], http: [route()] }), field: 'spec.hosts[0]', message: 'wildcard host * is not allowed' },
  { rule: 'duplicate hosts', good: doc('VirtualService', { hosts: ['a.example.com', 'b.example.com'], http: [route()] }), bad: doc('VirtualService', { hosts: ['*.example.com', 'a.example.com'], http: [route()] }), field: 'spec.hosts[1]', message: 'duplicate hosts in virtual service' },
  { rule: 'delegate VirtualService (no hosts) has no gateways', good: doc('VirtualService', { http: [route()] }), bad: doc('VirtualService', { gateways: ['gw'], http: [route()] }), field: 'spec.gateways', message: 'delegate virtual service must have no gateways' },
  { rule: 'gateway names', good: vs([route()], { gateways: ['istio-system/gw', 'mesh'] }), bad: vs([route()], { gateways: ['istio-system/Bad_Name'] }), field: 'spec.gateways[0]', message: 'invalid value for gateway name' },
  { rule: 'some route is required', good: vs([route()]), bad: doc('VirtualService', { hosts: ['reviews'] }), field: 'spec', message: 'http, tcp or tls must be provided' },
  { rule: 'route, redirect or directResponse required', good: vs([route()]), bad: vs([{ match: [{ uri: { prefix: '/' } }] }]), field: 'spec.http[0].route', message: 'HTTP route, redirect or direct_response is required' },
  { rule: 'redirect and route conflict', good: vs([{ redirect: { uri: '/new' } }]), bad: vs([route({ redirect: { uri: '/new' } })]), field: 'spec.http[0].redirect', message: 'cannot contain both route and redirect' },
  { rule: 'redirect and directResponse conflict', good: vs([{ directResponse: { status: 503 } }]), bad: vs([{ redirect: { uri: '/new' }, directResponse: { status: 503 } }]), field: 'spec.http[0].directResponse', message: 'cannot contain both direct_response and redirect' },
  { rule: 'directResponse and route conflict', good: vs([{ directResponse: { status: 200, body: { string: 'ok' } } }]), bad: vs([route({ directResponse: { status: 200 } })]), field: 'spec.http[0].directResponse', message: 'cannot contain both route and direct_response' },
  { rule: 'root route with delegate has no route', good: vs([{ delegate: { name: 'child', namespace: 'default' } }]), bad: vs([route({ delegate: { name: 'child' } })]), field: 'spec.http[0].route', message: 'root HTTP route must not specify route' },
  { rule: 'delegate routes do not delegate again', good: doc('VirtualService', { http: [route()] }), bad: doc('VirtualService', { http: [{ delegate: { name: 'c' } }] }), field: 'spec.http[0].delegate', message: 'delegate HTTP route cannot contain delegate' },
  { rule: 'negative weight', good: vs([{ route: [{ destination: { host: 'a' }, weight: 75 }, { destination: { host: 'b' }, weight: 25 }] }]), bad: vs([{ route: [{ destination: { host: 'a' }, weight: 75 }, { destination: { host: 'b' }, weight: -15 }] }]), field: 'spec.http[0].route[1].weight', message: 'weight -15 < 0' },
  { rule: 'several destinations all at weight 0', good: vs([{ route: [{ destination: { host: 'a' }, weight: 0 }] }]), bad: vs([{ route: [{ destination: { host: 'a' }, weight: 0 }, { destination: { host: 'b' }, weight: 0 }] }]), field: 'spec.http[0].route', message: 'total destination weight = 0' },
  { rule: 'destination host required', good: vs([route()]), bad: vs([{ route: [{ destination: { subset: 'v1' } }] }]), field: 'spec.http[0].route[0].destination.host', message: 'Required value' },
  { rule: 'destination host is not `*`', good: vs([route()]), bad: vs([{ route: [{ destination: { host: '*' } }] }]), field: 'spec.http[0].route[0].destination.host', message: 'invalid destination host *' },
  { rule: 'subset name', good: vs([{ route: [{ destination: { host: 'a', subset: 'v1' } }] }]), bad: vs([{ route: [{ destination: { host: 'a', subset: 'v_1' } }] }]), field: 'spec.http[0].route[0].destination.subset', message: 'subset name is invalid' },
  { rule: 'destination port range', good: vs([{ route: [{ destination: { host: 'a', port: { number: 9080 } } }] }]), bad: vs([{ route: [{ destination: { host: 'a', port: { number: 70000 } } }] }]), field: 'spec.http[0].route[0].destination.port.number', message: 'must be in the range 1..65535' },
  { rule: 'redirect code is 3xx', good: vs([{ redirect: { uri: '/x', redirectCode: 308 } }]), bad: vs([{ redirect: { uri: '/x', redirectCode: 200 } }]), field: 'spec.http[0].redirect.redirectCode', message: '200 is not a valid redirect code, must be 3xx' },
  { rule: 'redirect says where', good: vs([{ redirect: { authority: 'example.com' } }]), bad: vs([{ redirect: { redirectCode: 301 } }]), field: 'spec.http[0].redirect', message: 'redirect must specify URI, authority, scheme, or port' },
  { rule: 'redirect scheme', good: vs([{ redirect: { scheme: 'https' } }]), bad: vs([{ redirect: { scheme: 'ftp' } }]), field: 'spec.http[0].redirect.scheme', message: 'must be "http" or "https"' },
  { rule: 'timeout is a duration', good: vs([route({ timeout: '1.5s' })]), bad: vs([route({ timeout: 'soon' })]), field: 'spec.http[0].timeout', message: 'must be a valid duration' },
  { rule: 'timeout >= 1ms', good: vs([route({ timeout: '1ms' })]), bad: vs([route({ timeout: '0s' })]), field: 'spec.http[0].timeout', message: 'greater than 1ms' },
  { rule: 'durations at ms precision', good: vs([route({ timeout: '250ms' })]), bad: vs([route({ timeout: '1.5ms' })]), field: 'spec.http[0].timeout', message: 'only durations to ms precision' },
  { rule: 'perTryTimeout duration', good: vs([route({ retries: { attempts: 3, perTryTimeout: '2s' } })]), bad: vs([route({ retries: { attempts: 3, perTryTimeout: '0.1ms' } })]), field: 'spec.http[0].retries.perTryTimeout', message: 'greater than 1ms' },
  { rule: 'retryOn names and status codes', good: vs([route({ retries: { attempts: 3, retryOn: 'gateway-error,connect-failure,503' } })]), bad: vs([route({ retries: { attempts: 3, retryOn: '5xx,sometimes' } })]), field: 'spec.http[0].retries.retryOn', message: '"sometimes" is not a valid retryOn policy' },
  { rule: 'retry attempts not negative', good: vs([route({ retries: { attempts: 0 } })]), bad: vs([route({ retries: { attempts: -1 } })]), field: 'spec.http[0].retries.attempts', message: 'attempts cannot be negative' },
  { rule: 'retry settings with attempts 0', good: vs([route({ retries: { attempts: 2, retryOn: '5xx' } })]), bad: vs([route({ retries: { attempts: 0, retryOn: '5xx' } })]), field: 'spec.http[0].retries.attempts', message: 'attempts are set to 0' },
  { rule: 'uri regex is RE2', good: vs([route({ match: [{ uri: { regex: '^/api/v[0-9]+/.*' } }] })]), bad: vs([route({ match: [{ uri: { regex: '^(?!.<path>.).*' } }] })]), field: 'spec.http[0].match[0].uri.regex', message: 'Istio uses RE2 style regex-based match' },
  { rule: 'header match regex is RE2', good: vs([route({ match: [{ headers: { 'x-user': { regex: 'a|b' } } }] })]), bad: vs([route({ match: [{ headers: { 'x-user': { regex: '(a' } } }] })]), field: 'spec.http[0].match[0].headers.x-user.regex', message: 'missing )' },
  { rule: 'header match names', good: vs([route({ match: [{ headers: { end_user: { exact: 'jason' } } }] })]), bad: vs([route({ match: [{ headers: { 'bad header': { exact: 'x' } } }] })]), field: 'spec.http[0].match[0].headers["bad header"]', message: 'is not a valid header name' },
  { rule: 'string match has one of exact/prefix/regex', good: vs([route({ match: [{ uri: { prefix: '/a' } }] })]), bad: vs([route({ match: [{ uri: { prefix: '/a', exact: '/a' } }] })]), field: 'spec.http[0].match[0].uri', message: 'only one of exact, prefix or regex' },
  { rule: 'empty prefix only for uri', good: vs([route({ match: [{ uri: { prefix: '' } }] })]), bad: vs([route({ match: [{ method: { prefix: '' } }] })]), field: 'spec.http[0].match[0].method.prefix', message: 'prefix string match should not be empty' },
  { rule: 'match port range', good: vs([route({ match: [{ port: 8080 }] })]), bad: vs([route({ match: [{ port: 70000 }] })]), field: 'spec.http[0].match[0].port', message: 'must be in the range 1..65535' },
  { rule: 'JWT claim routing only at gateways', good: vs([route({ match: [{ headers: { '@request.auth.claims.group': { exact: 'a' } } }] })], { gateways: ['gw'] }), bad: vs([route({ match: [{ headers: { '@request.auth.claims.group': { exact: 'a' } } }] })]), field: 'spec.http[0].match[0].headers["@request.auth.claims.group"]', message: 'only supported for gateway' },
  { rule: 'header operations: no pseudo headers', good: vs([route({ headers: { request: { set: { 'x-a': '1' } }, response: { remove: ['x-b'] } } })]), bad: vs([route({ headers: { response: { set: { ':status': '200' } } } })]), field: 'spec.http[0].headers.response.set[":status"]', message: 'header cannot have ":" prefix' },
  { rule: 'header operations: Host cannot be removed', good: vs([route({ headers: { request: { remove: ['x-debug'] } } })]), bad: vs([route({ headers: { request: { remove: ['host'] } } })]), field: 'spec.http[0].headers.request.remove[0]', message: 'cannot set Host header' },
  { rule: 'authority rewritten once', good: vs([route({ rewrite: { authority: 'a.com' } })]), bad: vs([route({ rewrite: { authority: 'a.com' }, headers: { request: { set: { host: 'b.com' } } } })]), field: 'spec.http[0].headers.request.set.host', message: 'authority header cannot be set multiple times' },
  { rule: 'rewrite: uri or uriRegexRewrite', good: vs([route({ rewrite: { uriRegexRewrite: { match: '^/v1/(.*)', rewrite: '/\\1' } } })]), bad: vs([route({ rewrite: { uri: '/x', uriRegexRewrite: { match: 'a', rewrite: 'b' } } })]), field: 'spec.http[0].rewrite', message: 'only contain one of URI or UriRegexRewrite' },
  { rule: 'fault has abort or delay', good: vs([route({ fault: { abort: { httpStatus: 500, percentage: { value: 10 } } } })]), bad: vs([route({ fault: {} })]), field: 'spec.http[0].fault', message: 'must have an abort and/or a delay' },
  { rule: 'fault abort httpStatus 200..599', good: vs([route({ fault: { abort: { httpStatus: 599 } } })]), bad: vs([route({ fault: { abort: { httpStatus: 600 } } })]), field: 'spec.http[0].fault.abort.httpStatus', message: 'not in range 200-599' },
  { rule: 'fault abort grpcStatus names', good: vs([route({ fault: { abort: { grpcStatus: 'UNAVAILABLE' } } })]), bad: vs([route({ fault: { abort: { grpcStatus: 'BROKEN' } } })]), field: 'spec.http[0].fault.abort.grpcStatus', message: 'gRPC status "BROKEN" is not supported' },
  { rule: 'fault percentage 0..100', good: vs([route({ fault: { delay: { fixedDelay: '5s', percentage: { value: 100 } } } })]), bad: vs([route({ fault: { delay: { fixedDelay: '5s', percentage: { value: 120 } } } })]), field: 'spec.http[0].fault.delay.percentage.value', message: 'is neither 0.0, nor in range [0.0001, 100.0]' },
  { rule: 'deprecated delay.percent 0..100', good: vs([route({ fault: { delay: { fixedDelay: '1s', percent: 100 } } })]), bad: vs([route({ fault: { delay: { fixedDelay: '1s', percent: 101 } } })]), field: 'spec.http[0].fault.delay.percent', message: 'not in range 0..100' },
  { rule: 'fault delay >= 1ms', good: vs([route({ fault: { delay: { fixedDelay: '7s' } } })]), bad: vs([route({ fault: { delay: { fixedDelay: '0s' } } })]), field: 'spec.http[0].fault.delay.fixedDelay', message: 'greater than 1ms' },
  { rule: 'fault and redirect conflict', good: vs([route({ fault: { abort: { httpStatus: 500 } } })]), bad: vs([{ redirect: { uri: '/x' }, fault: { abort: { httpStatus: 500 } } }]), field: 'spec.http[0].fault', message: 'cannot contain both fault and redirect' },
  { rule: 'mirrorPercentage 0..100', good: vs([route({ mirror: { host: 'm' }, mirrorPercentage: { value: 50 } })]), bad: vs([route({ mirror: { host: 'm' }, mirrorPercentage: { value: 150 } })]), field: 'spec.http[0].mirrorPercentage.value', message: 'max value of 100' },
  { rule: 'mirror and mirrors conflict', good: vs([route({ mirrors: [{ destination: { host: 'm' }, percentage: { value: 5 } }] })]), bad: vs([route({ mirror: { host: 'm' }, mirrors: [{ destination: { host: 'n' } }] })]), field: 'spec.http[0].mirrors', message: 'cannot contain both mirror and mirrors' },
  { rule: 'mirrors need a destination', good: vs([route({ mirrors: [{ destination: { host: 'm' } }] })]), bad: vs([route({ mirrors: [{ percentage: { value: 5 } }] })]), field: 'spec.http[0].mirrors[0].destination', message: 'destination is required for mirrors' },
  { rule: 'corsPolicy methods', good: vs([route({ corsPolicy: { allowOrigins: [{ exact: 'https://a.com' }], allowMethods: ['GET', 'POST'], maxAge: '24h' } })]), bad: vs([route({ corsPolicy: { allowMethods: ['FETCH'] } })]), field: 'spec.http[0].corsPolicy.allowMethods[0]', message: '"FETCH" is not a supported HTTP method' },
  { rule: 'corsPolicy headers', good: vs([route({ corsPolicy: { allowHeaders: ['x-a', '*'] } })]), bad: vs([route({ corsPolicy: { exposeHeaders: ['x a'] } })]), field: 'spec.http[0].corsPolicy.exposeHeaders[0]', message: 'is not a valid header name' },
  { rule: 'corsPolicy origins not empty', good: vs([route({ corsPolicy: { allowOrigins: [{ regex: 'https://.*\\.a\\.com' }] } })]), bad: vs([route({ corsPolicy: { allowOrigins: [{ exact: '' }] } })]), field: 'spec.http[0].corsPolicy.allowOrigins[0]', message: 'not a valid match type for CORS allow origins' },
  { rule: 'directResponse status', good: vs([{ directResponse: { status: 418 } }]), bad: vs([{ directResponse: { status: 100 } }]), field: 'spec.http[0].directResponse.status', message: 'not in range 200-599' },
  { rule: 'tcp route required', good: doc('VirtualService', { hosts: ['db'], tcp: [{ match: [{ port: 27017 }], route: [{ destination: { host: 'db' } }] }] }), bad: doc('VirtualService', { hosts: ['db'], tcp: [{ match: [{ port: 27017 }] }] }), field: 'spec.tcp[0].route', message: 'TCP route is required' },
  { rule: 'tcp destinationSubnets', good: doc('VirtualService', { hosts: ['db'], tcp: [{ match: [{ destinationSubnets: ['10.0.0.0/8'] }], route: [{ destination: { host: 'db' } }] }] }), bad: doc('VirtualService', { hosts: ['db'], tcp: [{ match: [{ destinationSubnets: ['10.0.0.0/40'] }], route: [{ destination: { host: 'db' } }] }] }), field: 'spec.tcp[0].match[0].destinationSubnets[0]', message: 'is not a valid CIDR block' },
  { rule: 'tls route needs sniHosts', good: doc('VirtualService', { hosts: ['*.a.com'], tls: [{ match: [{ sniHosts: ['x.a.com'] }], route: [{ destination: { host: 'x.a.com' } }] }] }), bad: doc('VirtualService', { hosts: ['*.a.com'], tls: [{ match: [{ port: 443 }], route: [{ destination: { host: 'x.a.com' } }] }] }), field: 'spec.tls[0].match[0].sniHosts', message: 'at least one SNI host' },
  { rule: 'tls sniHosts within the VirtualService hosts', good: doc('VirtualService', { hosts: ['*.a.com'], tls: [{ match: [{ sniHosts: ['x.a.com'] }], route: [{ destination: { host: 'x.a.com' } }] }] }), bad: doc('VirtualService', { hosts: ['*.a.com'], tls: [{ match: [{ sniHosts: ['x.b.com'] }], route: [{ destination: { host: 'x.a.com' } }] }] }), field: 'spec.tls[0].match[0].sniHosts[0]', message: 'is not a compatible subset' },
  { rule: 'exportTo values', good: vs([route()], { exportTo: ['.', 'other'] }), bad: vs([route()], { exportTo: ['~'] }), field: 'spec.exportTo[0]', message: 'exportTo must be' },

  // ------------------------------------------------------------ Gateway
  { rule: 'gateway has servers', good: gw([server()]), bad: gw([]), field: 'spec.servers', message: 'gateway must have at least one server' },
  { rule: 'gateway name is a DNS label', good: gw([server()], 'my-gw'), bad: gw([server()], 'my.gw'), field: 'metadata.name', message: 'invalid gateway name' },
  { rule: 'server hosts required', good: gw([server()]), bad: gw([server({ hosts: [] })]), field: 'spec.servers[0].hosts', message: 'at least one host' },
  { rule: 'server hosts ns/host form', good: gw([server({ hosts: ['prod/*.example.com', './a.example.com', '*'] })]), bad: gw([server({ hosts: ['Bad_NS/a.example.com'] })]), field: 'spec.servers[0].hosts[0]', message: 'invalid namespace value "Bad_NS"' },
  { rule: 'server hosts are not short names', good: gw([server({ hosts: ['a.example.com'] })]), bad: gw([server({ hosts: ['reviews'] })]), field: 'spec.servers[0].hosts[0]', message: 'short names (non FQDN) are not allowed' },
  { rule: 'server port number', good: gw([server()]), bad: gw([server({ port: { number: 0, name: 'http', protocol: 'HTTP' } })]), field: 'spec.servers[0].port.number', message: 'must be in the range 1..65535' },
  { rule: 'server port protocol', good: gw([server({ port: { number: 80, name: 'http', protocol: 'http2' } })]), bad: gw([server({ port: { number: 80, name: 'http', protocol: 'SPDY' } })]), field: 'spec.servers[0].port.protocol', message: 'invalid protocol' },
  { rule: 'server port name required', good: gw([server()]), bad: gw([server({ port: { number: 80, protocol: 'HTTP' } })]), field: 'spec.servers[0].port.name', message: 'port name must be set' },
  { rule: 'server port names unique', good: gw([server(), server({ port: { number: 81, name: 'http2', protocol: 'HTTP' } })]), bad: gw([server(), server({ port: { number: 81, name: 'http', protocol: 'HTTP' } })]), field: 'spec.servers[1].port.name', message: 'port names in servers must be unique' },
  { rule: 'HTTPS server needs tls', good: gw([server({ port: { number: 443, name: 'https', protocol: 'HTTPS' }, tls: { mode: 'SIMPLE', credentialName: 'cert' } })]), bad: gw([server({ port: { number: 443, name: 'https', protocol: 'HTTPS' } })]), field: 'spec.servers[0].tls', message: 'server must have TLS settings for HTTPS/TLS protocols' },
  { rule: 'SIMPLE TLS needs a certificate', good: gw([server({ port: { number: 443, name: 'https', protocol: 'HTTPS' }, tls: { mode: 'SIMPLE', serverCertificate: '/c.pem', privateKey: '/k.pem' } })]), bad: gw([server({ port: { number: 443, name: 'https', protocol: 'HTTPS' }, tls: { mode: 'SIMPLE', privateKey: '/k.pem' } })]), field: 'spec.servers[0].tls.serverCertificate', message: 'SIMPLE TLS requires a server certificate' },
  { rule: 'ISTIO_MUTUAL takes no certificates', good: gw([server({ port: { number: 443, name: 'tls', protocol: 'TLS' }, tls: { mode: 'ISTIO_MUTUAL' } })]), bad: gw([server({ port: { number: 443, name: 'tls', protocol: 'TLS' }, tls: { mode: 'ISTIO_MUTUAL', credentialName: 'x' } })]), field: 'spec.servers[0].tls.credentialName', message: 'ISTIO_MUTUAL TLS cannot have associated credentialName' },
  { rule: 'plain HTTP server: only httpsRedirect', good: gw([server({ tls: { httpsRedirect: true } })]), bad: gw([server({ tls: { mode: 'SIMPLE', credentialName: 'c' } })]), field: 'spec.servers[0].tls', message: 'server cannot have TLS settings for plain text HTTP ports' },

  // ------------------------------------------------------------ DestinationRule
  { rule: 'host required', good: dr({}), bad: doc('DestinationRule', { subsets: [{ name: 'v1' }] }), field: 'spec.host', message: 'empty domain name not allowed' },
  { rule: 'subset names unique', good: dr({ subsets: [{ name: 'v1', labels: { version: 'v1' } }, { name: 'v2', labels: { version: 'v2' } }] }), bad: dr({ subsets: [{ name: 'v1' }, { name: 'v1' }] }), field: 'spec.subsets[1].name', message: 'duplicate subset names: v1' },
  { rule: 'subset names valid', good: dr({ subsets: [{ name: 'v2-mysql' }] }), bad: dr({ subsets: [{ name: 'v2.mysql' }] }), field: 'spec.subsets[0].name', message: 'subset name is invalid' },
  { rule: 'subset labels valid', good: dr({ subsets: [{ name: 'v1', labels: { 'app.kubernetes.io/version': 'v1' } }] }), bad: dr({ subsets: [{ name: 'v1', labels: { version: 'v 1' } }] }), field: 'spec.subsets[0].labels.version', message: 'invalid tag value' },
  { rule: 'traffic policy not empty', good: dr({ trafficPolicy: { tls: { mode: 'ISTIO_MUTUAL' } } }), bad: dr({ trafficPolicy: {} }), field: 'spec.trafficPolicy', message: 'traffic policy must have at least one field' },
  { rule: 'warmup.minimumPercent 0..100', good: lb({ warmup: { duration: '300s', minimumPercent: 10 } }), bad: lb({ warmup: { duration: '300s', minimumPercent: 150 } }), field: 'spec.trafficPolicy.loadBalancer.warmup.minimumPercent', message: 'Invalid value: 150' },
  { rule: 'warmup.duration required', good: lb({ warmup: { duration: '60s' } }), bad: lb({ warmup: { minimumPercent: 5 } }), field: 'spec.trafficPolicy.loadBalancer.warmup.duration', message: 'Required value' },
  { rule: 'warmup.aggression >= 0', good: lb({ warmup: { duration: '60s', aggression: 1.5 } }), bad: lb({ warmup: { duration: '60s', aggression: -0.1 } }), field: 'spec.trafficPolicy.loadBalancer.warmup.aggression', message: 'Invalid value: -0.1' },
  { rule: 'simple or consistentHash', good: lb({ simple: 'ROUND_ROBIN' }), bad: lb({ simple: 'ROUND_ROBIN', consistentHash: { useSourceIp: true } }), field: 'spec.trafficPolicy.loadBalancer', message: 'only one of simple or consistentHash' },
  { rule: 'httpCookie needs a name', good: lb({ consistentHash: { httpCookie: { name: 'user', ttl: '0s' } } }), bad: lb({ consistentHash: { httpCookie: { ttl: '10s' } } }), field: 'spec.trafficPolicy.loadBalancer.consistentHash.httpCookie.name', message: 'name required for HttpCookie' },
  { rule: 'maglev table size is prime', good: lb({ consistentHash: { useSourceIp: true, maglev: { tableSize: 65537 } } }), bad: lb({ consistentHash: { useSourceIp: true, maglev: { tableSize: 65536 } } }), field: 'spec.trafficPolicy.loadBalancer.consistentHash.maglev.tableSize', message: 'prime' },
  { rule: 'locality distribute weights sum to 100', good: lb({ localityLbSetting: { distribute: [{ from: 'us-west/*', to: { 'us-west/*': 80, 'us-east/*': 20 } }] } }), bad: lb({ localityLbSetting: { distribute: [{ from: 'us-west/*', to: { 'us-west/*': 80, 'us-east/*': 30 } }] } }), field: 'spec.trafficPolicy.loadBalancer.localityLbSetting.distribute[0].to', message: 'total locality weight 110 != 100' },
  { rule: 'connectionPool values not negative', good: dr({ trafficPolicy: { connectionPool: { tcp: { maxConnections: 1, connectTimeout: '30ms' }, http: { http1MaxPendingRequests: 1, maxRequestsPerConnection: 1 } } } }), bad: dr({ trafficPolicy: { connectionPool: { http: { http1MaxPendingRequests: -1 } } } }), field: 'spec.trafficPolicy.connectionPool.http.http1MaxPendingRequests', message: 'must be non-negative' },
  { rule: 'connectionPool durations', good: dr({ trafficPolicy: { connectionPool: { http: { idleTimeout: '1h' } } } }), bad: dr({ trafficPolicy: { connectionPool: { tcp: { connectTimeout: '0s' } } } }), field: 'spec.trafficPolicy.connectionPool.tcp.connectTimeout', message: 'greater than 1ms' },
  { rule: 'connectionPool not empty', good: dr({ trafficPolicy: { connectionPool: { tcp: { maxConnections: 100 } } } }), bad: dr({ trafficPolicy: { connectionPool: {} } }), field: 'spec.trafficPolicy.connectionPool', message: 'connection pool must have at least one field' },
  { rule: 'outlierDetection percents 0..100', good: dr({ trafficPolicy: { outlierDetection: { consecutive5xxErrors: 1, interval: '1s', baseEjectionTime: '3m', maxEjectionPercent: 100 } } }), bad: dr({ trafficPolicy: { outlierDetection: { maxEjectionPercent: 101 } } }), field: 'spec.trafficPolicy.outlierDetection.maxEjectionPercent', message: 'not in range 0..100' },
  { rule: 'outlierDetection durations', good: dr({ trafficPolicy: { outlierDetection: { interval: '10s' } } }), bad: dr({ trafficPolicy: { outlierDetection: { baseEjectionTime: '30' } } }), field: 'spec.trafficPolicy.outlierDetection.baseEjectionTime', message: 'must be a valid duration' },
  { rule: 'local origin failures need the split', good: dr({ trafficPolicy: { outlierDetection: { splitExternalLocalOriginErrors: true, consecutiveLocalOriginFailures: 5 } } }), bad: dr({ trafficPolicy: { outlierDetection: { consecutiveLocalOriginFailures: 5 } } }), field: 'spec.trafficPolicy.outlierDetection.consecutiveLocalOriginFailures', message: 'split external local origin errors is set to false' },
  { rule: 'portLevelSettings need a port', good: dr({ trafficPolicy: { portLevelSettings: [{ port: { number: 80 }, loadBalancer: { simple: 'LEAST_REQUEST' } }] } }), bad: dr({ trafficPolicy: { portLevelSettings: [{ loadBalancer: { simple: 'LEAST_REQUEST' } }] } }), field: 'spec.trafficPolicy.portLevelSettings[0].port', message: 'portTrafficPolicy must have valid port' },
  { rule: 'client MUTUAL TLS needs certificates', good: dr({ trafficPolicy: { tls: { mode: 'MUTUAL', clientCertificate: '/c', privateKey: '/k' } } }), bad: dr({ trafficPolicy: { tls: { mode: 'MUTUAL', privateKey: '/k' } } }), field: 'spec.trafficPolicy.tls.clientCertificate', message: 'client certificate required for mutual tls' },
  { rule: 'workloadSelector has no wildcards', good: dr({ workloadSelector: { matchLabels: { app: 'reviews' } } }), bad: dr({ workloadSelector: { matchLabels: { app: 'rev*' } } }), field: 'spec.workloadSelector.matchLabels.app', message: 'wildcard is not supported in selector' },

  // ------------------------------------------------------------ ServiceEntry
  { rule: 'spec required', good: se({}), bad: doc('ServiceEntry', undefined), field: 'spec', message: 'Required value' },
  { rule: 'hosts required', good: se({}), bad: doc('ServiceEntry', {}), field: 'spec.hosts', message: 'Required value' },
  { rule: 'host `*` invalid', good: se({ hosts: ['*.example.com'] }), bad: se({ hosts: ['*'] }), field: 'spec.hosts[0]', message: 'hostname cannot be wildcard' },
  { rule: 'selector value has no wildcard', good: se({ workloadSelector: { labels: { app: 'vm' } }, resolution: 'STATIC' }), bad: se({ workloadSelector: { labels: { val: '*' } } }), field: 'spec.workloadSelector.labels.val', message: 'wildcard is not supported in selector' },
  { rule: 'selector and endpoints exclusive', good: se({ resolution: 'STATIC', endpoints: [{ address: '1.2.3.4' }] }), bad: se({ resolution: 'STATIC', workloadSelector: { labels: { app: 'a' } }, endpoints: [{ address: '1.2.3.4' }] }), field: 'spec.endpoints', message: 'only one of WorkloadSelector or Endpoints can be set' },
  { rule: 'CIDR only for NONE/STATIC', good: se({ addresses: ['10.0.0.0/16'], resolution: 'NONE' }), bad: se({ addresses: ['1.2.3.4/16'], resolution: 'DNS' }), field: 'spec.addresses', message: 'CIDR addresses are allowed only for NONE/STATIC resolution types' },
  { rule: 'addresses are IPs or CIDRs', good: se({ addresses: ['1.2.3.4', '2001:db8::', 'fe80::/64'] }), bad: se({ addresses: ['1.2.3.4/99'] }), field: 'spec.addresses[0]', message: 'is not a valid CIDR block' },
  { rule: 'duplicate port names', good: se({ ports: [{ name: 'a', number: 1 }, { name: 'b', number: 12 }] }), bad: se({ ports: [{ name: 'a', number: 1 }, { name: 'a', number: 12 }] }), field: 'spec.ports[1].name', message: 'Duplicate value: "a"' },
  { rule: 'duplicate port numbers', good: se({ ports: [{ name: 'a', number: 1 }, { name: 'b', number: 2 }] }), bad: se({ ports: [{ name: 'a', number: 1 }, { name: 'b', number: 1 }] }), field: 'spec.ports[1].number', message: 'port number cannot be duplicated' },
  { rule: 'port number range', good: se({ ports: [{ name: 'a', number: 65535 }] }), bad: se({ ports: [{ name: 'a', number: 99999 }] }), field: 'spec.ports[0].number', message: 'port must be between 1-65535' },
  { rule: 'targetPort range', good: se({ resolution: 'STATIC', endpoints: [{ address: '1.2.3.4' }], ports: [{ name: 'a', number: 1, targetPort: 8080 }] }), bad: se({ ports: [{ name: 'a', number: 1, targetPort: 99999 }] }), field: 'spec.ports[0].targetPort', message: 'port must be between 1-65535' },
  { rule: 'port names are DNS labels', good: se({ ports: [{ name: 'http-web', number: 80 }] }), bad: se({ ports: [{ name: 'http_web', number: 80 }] }), field: 'spec.ports[0].name', message: 'invalid port name' },
  { rule: 'port protocol known', good: se({ ports: [{ name: 'a', number: 80, protocol: 'grpc' }] }), bad: se({ ports: [{ name: 'a', number: 80, protocol: 'QUIC' }] }), field: 'spec.ports[0].protocol', message: 'unsupported protocol: QUIC' },
  { rule: 'NONE with endpoints', good: se({ resolution: 'NONE' }), bad: se({ resolution: 'NONE', endpoints: [{ address: '1.2.3.4' }] }), field: 'spec.endpoints', message: 'NONE mode cannot set endpoints' },
  { rule: 'DNS_ROUND_ROBIN with several endpoints', good: se({ resolution: 'DNS_ROUND_ROBIN', endpoints: [{ address: 'sub1.example.com' }] }), bad: se({ resolution: 'DNS_ROUND_ROBIN', endpoints: [{ address: 'sub1.example.com' }, { address: 'sub2.example.com' }] }), field: 'spec.endpoints', message: 'DNS_ROUND_ROBIN mode cannot have multiple endpoints' },
  { rule: 'STATIC endpoints are IPs', good: se({ resolution: 'STATIC', endpoints: [{ address: '10.0.0.1' }] }), bad: se({ resolution: 'STATIC', endpoints: [{ address: 'vm.example.com' }] }), field: 'spec.endpoints[0].address', message: 'is not a valid IP address' },
  { rule: 'endpoint ports name a service port', good: se({ resolution: 'STATIC', ports: [{ name: 'http', number: 80 }], endpoints: [{ address: '10.0.0.1', ports: { http: 8080 } }] }), bad: se({ resolution: 'STATIC', ports: [{ name: 'http', number: 80 }], endpoints: [{ address: '10.0.0.1', ports: { grpc: 8080 } }] }), field: 'spec.endpoints[0].ports.grpc', message: 'is not defined by the service entry' },
  { rule: 'DNS without endpoints needs FQDN hosts', good: se({ resolution: 'DNS' }), bad: se({ hosts: ['*.example.com'], resolution: 'DNS' }), field: 'spec.hosts[0]', message: 'hosts must be FQDN' },
  { rule: 'several hosts need HTTP or TLS ports', good: se({ hosts: ['a.com', 'b.com'], resolution: 'DNS', ports: [{ name: 'https', number: 443, protocol: 'TLS' }] }), bad: se({ hosts: ['a.com', 'b.com'], resolution: 'DNS', ports: [{ name: 'tcp', number: 9000, protocol: 'TCP' }] }), field: 'spec.ports[0]', message: 'multiple hosts provided with non-HTTP, non-TLS ports' },
  { rule: 'exportTo `~` alone', good: se({ exportTo: ['~'] }), bad: se({ exportTo: ['~', 'ns1'] }), field: 'spec.exportTo', message: 'cannot export service entry to no one (~) and someone' },

  // ------------------------------------------------------------ WorkloadEntry
  { rule: 'address required', good: we({ address: '1.2.3.4' }), bad: we({}), field: 'spec.address', message: 'Address is required' },
  { rule: 'address required (empty)', good: we({ address: 'vm.example.com' }), bad: we({ address: '' }), field: 'spec.address', message: 'Address is required' },
  { rule: 'UDS absolute or abstract', good: we({ address: 'unix:///var/run/app.sock' }), bad: we({ address: 'unix://relative' }), field: 'spec.address', message: 'UDS must be an absolute path or abstract socket' },
  { rule: 'UDS is not a dir', good: we({ address: 'unix://@abstract' }), bad: we({ address: 'unix:///dir/' }), field: 'spec.address', message: 'UDS may not be a dir' },
  { rule: 'UDS without ports', good: we({ address: 'unix://@foo' }), bad: we({ address: 'unix://@foo', ports: { http: 80 } }), field: 'spec.ports', message: 'UDS may not include ports' },
  { rule: 'port range', good: we({ address: '1.1.1.1', ports: { http: 8080 } }), bad: we({ address: '1.1.1.1', ports: { http: 99999 } }), field: 'spec.ports.http', message: 'port must be between 1-65535' },
  { rule: 'port names valid', good: we({ address: '1.1.1.1', ports: { 'http-alt': 80 } }), bad: we({ address: '1.1.1.1', ports: { '@': 80 } }), field: 'spec.ports["@"]', message: 'port name must be valid' },
  { rule: 'address is an IP or a host name', good: we({ address: '2001:db8::1' }), bad: we({ address: 'not a host' }), field: 'spec.address', message: 'is not a valid FQDN or an IP address' }
]

for (const c of cases) {
  t.test(c.rule, async t => {
    const good = validateDocument(c.good, WHERE)
    t.same(errors(good), [], `good document is accepted\n${show(good)}`)
    const bad = validateDocument(c.bad, WHERE)
    const hit = errors(bad).find(d => d.field === c.field && d.message.includes(c.message))
    t.ok(hit, `bad document rejected at ${c.field} with "${c.message}"\n${show(bad)}`)
    if (hit !== undefined) {
      t.equal(hit.file, 'test.yaml')
      t.equal(hit.document, 3)
      t.equal(hit.kind, c.bad.kind)
    }
  })
}

t.test('warnings where Istio warns, never errors', async t => {
  const cases: Array<[Record<string, unknown>, string, string]> = [
    [se({ hosts: ['*x'] }), 'spec.hosts[0]', 'partial wildcard'],
    [we({ network: 'net' }), 'spec.address', 'address is unset with network'],
    [vs([route(), route()]), 'spec.http[1]', 'only the last rule can have no matches'],
    [vs([route({ match: [{ uri: { exact: '/a' } }] }), route({ match: [{ uri: { exact: '/a' } }] })]), 'spec.http[1].match[0]', 'duplicate/overlapping match'],
    [vs([route({ mirrorPercent: 5, mirror: { host: 'm' } })]), 'spec.http[0].mirrorPercent', 'deprecated'],
    [vs([{ redirect: { uri: '/x', redirectCode: 300 } }]), 'spec.http[0].redirect.redirectCode', 'sent as 301'],
    [dr({ trafficPolicy: { outlierDetection: { consecutiveErrors: 5 } } }), 'spec.trafficPolicy.outlierDetection.consecutiveErrors', 'deprecated'],
    [vs([route()], { gateways: ['gw.istio-system'] }), 'spec.gateways[0]', 'legacy gatewayName format']
  ]
  for (const [d, field, message] of cases) {
    const ds = validateDocument(d, WHERE)
    t.same(errors(ds), [], `no errors for ${field}\n${show(ds)}`)
    t.ok(ds.some(x => x.severity === 'warning' && x.field === field && x.message.includes(message)), `warning at ${field}: ${message}\n${show(ds)}`)
  }
})

t.test('a type error stops the meaning checks for that document (no follow-on noise)', async t => {
  const ds = validateDocument(doc('VirtualService', { hosts: 'reviews', http: [route()] }), WHERE)
  t.same(errors(ds).map(d => d.field), ['spec.hosts'])
})

t.test('every diagnostic names file, document, kind, name', async t => {
  const ds = validateDocument(se({ ports: [{ name: 'a', number: 0 }] }), { file: 'se.yaml', document: 7 })
  t.ok(ds.length > 0)
  for (const d of ds) t.match(d, { file: 'se.yaml', document: 7, kind: 'ServiceEntry', name: 'x' })
})

// ------------------------------------------------------------ YAML quirk (see load.ts repairIPv6Lists)

t.test('an IPv6 address ending in :: inside a flow list stays a string', async t => {
  const text = [
    'apiVersion: networking.istio.io/v1',
    'kind: ServiceEntry',
    'metadata: {name: full}',
    'spec:',
    '  hosts: [example.com]',
    '  addresses: [1.2.3.4, 001:db8::]',
    '  resolution: STATIC',
    '  endpoints: [{address: 1.2.3.4}]'
  ].join('\n')
  const config = emptyConfigSet()
  const diagnostics: Diagnostic[] = []
  loadText(text, 'se.yaml', { namespace: 'default' }, config, diagnostics)
  t.same(errors(diagnostics), [])
  t.same(config.serviceEntries[0].spec.addresses, ['1.2.3.4', '001:db8::'])
})

t.test('the repair is limited to address lists: elsewhere such a mapping is still a type error', async t => {
  const text = 'apiVersion: networking.istio.io/v1\nkind: ServiceEntry\nmetadata: {name: x}\nspec:\n  hosts: [example.com, "a:"]\n  subjectAltNames: [foo:]\n'
  const config = emptyConfigSet()
  const diagnostics: Diagnostic[] = []
  loadText(text, 'se.yaml', { namespace: 'default' }, config, diagnostics)
  t.ok(errors(diagnostics).some(d => d.field === 'spec.subjectAltNames[0]' && d.message.includes('must be of type string')), show(diagnostics))
})

// ------------------------------------------------------------ analyzeReferences

function load (yaml: string): { config: ReturnType<typeof emptyConfigSet>, diagnostics: Diagnostic[] } {
  const config = emptyConfigSet()
  const diagnostics: Diagnostic[] = []
  loadText(yaml, 'refs.yaml', { namespace: 'default' }, config, diagnostics)
  return { config, diagnostics }
}

const REFS = `
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: public, namespace: edge}
spec:
  servers: [{port: {number: 80, name: http, protocol: HTTP}, hosts: ["*.example.com"]}]
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: reviews}
spec:
  host: reviews
  subsets: [{name: v1, labels: {version: v1}}]
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: ext}
spec:
  hosts: ["*.googleapis.com"]
  resolution: NONE
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: vs}
spec:
  hosts: [reviews]
  gateways: [edge/public, mesh, public, missing]
  http:
  - match: [{gateways: [edge/nope]}]
    route:
    - destination: {host: reviews.default.svc.cluster.local, subset: v1}
      weight: 25
    - destination: {host: reviews, subset: v9}
      weight: 25
    - destination: {host: storage.googleapis.com}
      weight: 25
    - destination: {host: www.example.org}
      weight: 25
    mirror: {host: ratings, subset: v1}
`

t.test('IST0101 warnings for subsets, gateways and hosts no resource defines', async t => {
  const { config, diagnostics } = load(REFS)
  t.same(errors(diagnostics), [], show(diagnostics))
  const refs = analyzeReferences(config)
  for (const d of refs) t.match(d, { severity: 'warning', code: 'IST0101', file: 'refs.yaml', document: 3, kind: 'VirtualService', name: 'vs' })
  t.same(refs.map(d => `${d.field}: ${d.message}`).sort(), [
    'spec.gateways[2]: Referenced gateway not found: "public"', // short name: resolved in the VS namespace (default)
    'spec.gateways[3]: Referenced gateway not found: "missing"',
    'spec.http[0].match[0].gateways[0]: Referenced gateway not found: "edge/nope"',
    'spec.http[0].mirror.subset: Referenced host+subset in destinationrule not found: "ratings+v1"',
    'spec.http[0].route[1].destination.subset: Referenced host+subset in destinationrule not found: "reviews+v9"',
    'spec.http[0].route[3].destination.host: Referenced host not found: "www.example.org"'
  ].sort())
})

t.test('references resolve short names against the resource namespace', async t => {
  const yaml = REFS.replace('metadata: {name: reviews}', 'metadata: {name: reviews, namespace: prod}')
  const refs = analyzeReferences(load(yaml).config)
  // The DestinationRule now defines reviews.prod.svc.cluster.local, not the VS's reviews.default.
  t.ok(refs.some(d => d.field === 'spec.http[0].route[0].destination.subset'))
})
