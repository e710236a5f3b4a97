// Istio networking resources as they appear in YAML/JSON (the protos' JSON names, camelCase).
// These are the *input* shapes: optional everywhere a user may omit a field. The loader
// validates them (src/config/validate) before anything compiles them, so code past the
// loader may trust the invariants validation enforces but must still treat optional fields
// as optional.

export type Kind = 'Gateway' | 'VirtualService' | 'DestinationRule' | 'ServiceEntry' | 'WorkloadEntry'
export const KINDS: readonly Kind[] = ['Gateway', 'VirtualService', 'DestinationRule', 'ServiceEntry', 'WorkloadEntry']
export const API_GROUP = 'networking.istio.io'
export const API_VERSIONS = ['v1alpha3', 'v1beta1', 'v1'] as const

/** Where a document came from: used in every diagnostic so a user can find the broken field. */
export interface SourceRef {
  file: string
  /** 0-based index of the document inside a multi-document file. */
  document: number
}

export interface ObjectMeta {
  name: string
  namespace?: string
  labels?: Record<string, string>
  annotations?: Record<string, string>
}

export interface Resource<K extends Kind = Kind, S = unknown> {
  apiVersion: string
  kind: K
  metadata: ObjectMeta
  spec: S
  /** Filled by the loader; namespace defaults to the proxy's. */
  source: SourceRef
}

// ---------------------------------------------------------------- shared

export interface StringMatch {
  exact?: string
  prefix?: string
  regex?: string
}

export interface PortSelector {
  number?: number
}

export interface Percent {
  value?: number
}

export type Duration = string // "1s", "0.5s", "250ms", "1m", "1h": Istio's google.protobuf.Duration JSON form

// ---------------------------------------------------------------- Gateway

export interface ServerTLSSettings {
  httpsRedirect?: boolean
  mode?: 'PASSTHROUGH' | 'SIMPLE' | 'MUTUAL' | 'AUTO_PASSTHROUGH' | 'ISTIO_MUTUAL' | 'OPTIONAL_MUTUAL'
  serverCertificate?: string
  privateKey?: string
  caCertificates?: string
  credentialName?: string
  subjectAltNames?: string[]
  minProtocolVersion?: string
  maxProtocolVersion?: string
  cipherSuites?: string[]
}

export interface GatewayPort {
  number: number
  protocol: string
  name?: string
  targetPort?: number
}

export interface Server {
  port: GatewayPort
  bind?: string
  hosts: string[]
  tls?: ServerTLSSettings
  defaultEndpoint?: string
  name?: string
}

export interface GatewaySpec {
  servers?: Server[]
  selector?: Record<string, string>
}

// ---------------------------------------------------------------- VirtualService

export interface HTTPMatchRequest {
  name?: string
  uri?: StringMatch
  scheme?: StringMatch
  method?: StringMatch
  authority?: StringMatch
  headers?: Record<string, StringMatch>
  port?: number
  sourceLabels?: Record<string, string>
  gateways?: string[]
  queryParams?: Record<string, StringMatch>
  ignoreUriCase?: boolean
  withoutHeaders?: Record<string, StringMatch>
  sourceNamespace?: string
  statPrefix?: string
}

export interface Destination {
  host: string
  subset?: string
  port?: PortSelector
}

export interface HeaderOperations {
  set?: Record<string, string>
  add?: Record<string, string>
  remove?: string[]
}

export interface Headers {
  request?: HeaderOperations
  response?: HeaderOperations
}

export interface HTTPRouteDestination {
  destination: Destination
  weight?: number
  headers?: Headers
}

export interface HTTPRedirect {
  uri?: string
  authority?: string
  port?: number
  derivePort?: 'FROM_PROTOCOL_DEFAULT' | 'FROM_REQUEST_PORT'
  scheme?: string
  redirectCode?: number
}

export interface HTTPDirectResponse {
  status: number
  body?: { string?: string; bytes?: string }
}

export interface RegexRewrite {
  match?: string
  rewrite?: string
}

export interface HTTPRewrite {
  uri?: string
  authority?: string
  uriRegexRewrite?: RegexRewrite
}

export interface HTTPRetry {
  attempts?: number
  perTryTimeout?: Duration
  retryOn?: string
  retryRemoteLocalities?: boolean
  retryIgnorePreviousHosts?: boolean
  backoff?: Duration
}

export interface HTTPFaultInjection {
  delay?: {
    fixedDelay?: Duration
    exponentialDelay?: Duration
    percentage?: Percent
    /** Deprecated integer percentage, still used in Istio's own docs. */
    percent?: number
  }
  abort?: {
    httpStatus?: number
    grpcStatus?: string
    http2Error?: string
    percentage?: Percent
  }
}

export interface CorsPolicy {
  allowOrigin?: string[]
  allowOrigins?: StringMatch[]
  allowMethods?: string[]
  allowHeaders?: string[]
  exposeHeaders?: string[]
  maxAge?: Duration
  allowCredentials?: boolean
  unmatchedPreflights?: 'UNSPECIFIED' | 'FORWARD' | 'IGNORE'
}

export interface HTTPMirrorPolicy {
  destination: Destination
  percentage?: Percent
}

export interface Delegate {
  name?: string
  namespace?: string
}

export interface HTTPRoute {
  name?: string
  match?: HTTPMatchRequest[]
  route?: HTTPRouteDestination[]
  redirect?: HTTPRedirect
  directResponse?: HTTPDirectResponse
  delegate?: Delegate
  rewrite?: HTTPRewrite
  timeout?: Duration
  retries?: HTTPRetry
  fault?: HTTPFaultInjection
  mirror?: Destination
  mirrors?: HTTPMirrorPolicy[]
  mirrorPercentage?: Percent
  mirrorPercent?: number
  corsPolicy?: CorsPolicy
  headers?: Headers
}

export interface L4MatchAttributes {
  destinationSubnets?: string[]
  port?: number
  sourceLabels?: Record<string, string>
  gateways?: string[]
  sourceNamespace?: string
}

export interface RouteDestination {
  destination: Destination
  weight?: number
}

export interface TCPRoute {
  match?: L4MatchAttributes[]
  route?: RouteDestination[]
}

export interface TLSMatchAttributes extends L4MatchAttributes {
  sniHosts: string[]
}

export interface TLSRoute {
  match: TLSMatchAttributes[]
  route?: RouteDestination[]
}

export interface VirtualServiceSpec {
  hosts?: string[]
  gateways?: string[]
  http?: HTTPRoute[]
  tls?: TLSRoute[]
  tcp?: TCPRoute[]
  exportTo?: string[]
}

// ---------------------------------------------------------------- DestinationRule

export interface ConsistentHashLB {
  httpHeaderName?: string
  httpCookie?: { name: string; path?: string; ttl?: Duration }
  useSourceIp?: boolean
  httpQueryParameterName?: string
  ringHash?: { minimumRingSize?: number }
  maglev?: { tableSize?: number }
  minimumRingSize?: number
}

export interface LoadBalancerSettings {
  simple?: 'UNSPECIFIED' | 'LEAST_CONN' | 'RANDOM' | 'PASSTHROUGH' | 'ROUND_ROBIN' | 'LEAST_REQUEST'
  consistentHash?: ConsistentHashLB
  localityLbSetting?: unknown
  warmupDurationSecs?: Duration
  warmup?: { duration?: Duration; minimumPercent?: number; aggression?: number }
}

export interface TCPSettings {
  maxConnections?: number
  connectTimeout?: Duration
  tcpKeepalive?: { probes?: number; time?: Duration; interval?: Duration }
  maxConnectionDuration?: Duration
  idleTimeout?: Duration
}

export interface HTTPSettings {
  http1MaxPendingRequests?: number
  http2MaxRequests?: number
  maxRequestsPerConnection?: number
  maxRetries?: number
  idleTimeout?: Duration
  h2UpgradePolicy?: 'DEFAULT' | 'DO_NOT_UPGRADE' | 'UPGRADE'
  useClientProtocol?: boolean
  maxConcurrentStreams?: number
}

export interface ConnectionPoolSettings {
  tcp?: TCPSettings
  http?: HTTPSettings
}

export interface OutlierDetection {
  splitExternalLocalOriginErrors?: boolean
  consecutiveLocalOriginFailures?: number
  consecutiveGatewayErrors?: number
  consecutive5xxErrors?: number
  /** Deprecated alias of consecutive5xxErrors. */
  consecutiveErrors?: number
  interval?: Duration
  baseEjectionTime?: Duration
  maxEjectionPercent?: number
  minHealthPercent?: number
}

export interface ClientTLSSettings {
  mode?: 'DISABLE' | 'SIMPLE' | 'MUTUAL' | 'ISTIO_MUTUAL'
  clientCertificate?: string
  privateKey?: string
  caCertificates?: string
  credentialName?: string
  subjectAltNames?: string[]
  sni?: string
  insecureSkipVerify?: boolean
}

export interface PortTrafficPolicy {
  port?: PortSelector
  loadBalancer?: LoadBalancerSettings
  connectionPool?: ConnectionPoolSettings
  outlierDetection?: OutlierDetection
  tls?: ClientTLSSettings
}

export interface TrafficPolicy {
  loadBalancer?: LoadBalancerSettings
  connectionPool?: ConnectionPoolSettings
  outlierDetection?: OutlierDetection
  tls?: ClientTLSSettings
  portLevelSettings?: PortTrafficPolicy[]
  tunnel?: unknown
  proxyProtocol?: unknown
}

export interface Subset {
  name: string
  labels?: Record<string, string>
  trafficPolicy?: TrafficPolicy
}

export interface DestinationRuleSpec {
  host?: string
  trafficPolicy?: TrafficPolicy
  subsets?: Subset[]
  exportTo?: string[]
  workloadSelector?: { matchLabels?: Record<string, string> }
}

// ---------------------------------------------------------------- ServiceEntry / WorkloadEntry

export interface ServicePort {
  number: number
  protocol?: string
  name: string
  targetPort?: number
}

export interface WorkloadEntrySpec {
  address?: string
  ports?: Record<string, number>
  labels?: Record<string, string>
  network?: string
  locality?: string
  weight?: number
  serviceAccount?: string
}

export interface ServiceEntrySpec {
  hosts?: string[]
  addresses?: string[]
  ports?: ServicePort[]
  location?: 'MESH_EXTERNAL' | 'MESH_INTERNAL'
  resolution?: 'NONE' | 'STATIC' | 'DNS' | 'DNS_ROUND_ROBIN'
  endpoints?: WorkloadEntrySpec[]
  workloadSelector?: { labels?: Record<string, string> }
  exportTo?: string[]
  subjectAltNames?: string[]
}

export type GatewayResource = Resource<'Gateway', GatewaySpec>
export type VirtualServiceResource = Resource<'VirtualService', VirtualServiceSpec>
export type DestinationRuleResource = Resource<'DestinationRule', DestinationRuleSpec>
export type ServiceEntryResource = Resource<'ServiceEntry', ServiceEntrySpec>
export type WorkloadEntryResource = Resource<'WorkloadEntry', WorkloadEntrySpec>

/** Every accepted resource of one load, by kind, in file order. */
export interface ConfigSet {
  gateways: GatewayResource[]
  virtualServices: VirtualServiceResource[]
  destinationRules: DestinationRuleResource[]
  serviceEntries: ServiceEntryResource[]
  workloadEntries: WorkloadEntryResource[]
}

/** One problem found while loading: names the file, the document and the field. */
export interface Diagnostic {
  severity: 'error' | 'warning'
  file: string
  document: number
  kind?: string
  name?: string
  /** Dotted field path inside the document, e.g. `spec.http[0].route[1].weight`. */
  field: string
  message: string
  /** istioctl analyze's code for warnings about references (IST0101), when there is one. */
  code?: string
}
