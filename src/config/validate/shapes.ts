// The fields of Istio's networking resources (istio/api networking/v1alpha3 protos, the same
// for v1beta1 and v1), as the generated CRD schema lists them. Only structure and types live
// here; the rules that need more than one field are in the per-kind modules.
import { S, type Shape } from './shape'

const stringList = S.list(S.string)
const stringMap = S.map(S.string)
const percent = S.obj({ value: S.number })
const portSelector = S.obj({ number: S.uint32 })
const stringMatch = S.obj({ exact: S.string, prefix: S.string, regex: S.string })

// ---------------------------------------------------------------- VirtualService

const destination = S.obj({ host: S.string, subset: S.string, port: portSelector })
const headerOperations = S.obj({ set: stringMap, add: stringMap, remove: stringList })
const headers = S.obj({ request: headerOperations, response: headerOperations })

const httpMatch = S.obj({
  name: S.string,
  uri: stringMatch,
  scheme: stringMatch,
  method: stringMatch,
  authority: stringMatch,
  headers: S.map(stringMatch),
  port: S.uint32,
  sourceLabels: stringMap,
  gateways: stringList,
  queryParams: S.map(stringMatch),
  ignoreUriCase: S.bool,
  withoutHeaders: S.map(stringMatch),
  sourceNamespace: S.string,
  statPrefix: S.string
})

const httpRoute = S.obj({
  name: S.string,
  match: S.list(httpMatch),
  route: S.list(S.obj({ destination, weight: S.int32, headers })),
  redirect: S.obj({
    uri: S.string,
    authority: S.string,
    port: S.uint32,
    derivePort: S.enum('FROM_PROTOCOL_DEFAULT', 'FROM_REQUEST_PORT'),
    scheme: S.string,
    redirectCode: S.uint32,
    prefixRewrite: S.string
  }),
  directResponse: S.obj({ status: S.uint32, body: S.obj({ string: S.string, bytes: S.string }) }),
  delegate: S.obj({ name: S.string, namespace: S.string }),
  rewrite: S.obj({ uri: S.string, authority: S.string, uriRegexRewrite: S.obj({ match: S.string, rewrite: S.string }) }),
  timeout: S.duration,
  retries: S.obj({
    attempts: S.int32,
    perTryTimeout: S.duration,
    retryOn: S.string,
    retryRemoteLocalities: S.bool,
    retryIgnorePreviousHosts: S.bool,
    backoff: S.duration
  }),
  fault: S.obj({
    delay: S.obj({ fixedDelay: S.duration, exponentialDelay: S.duration, percentage: percent, percent: S.int32 }),
    abort: S.obj({ httpStatus: S.int32, grpcStatus: S.string, http2Error: S.string, percentage: percent })
  }),
  mirror: destination,
  mirrors: S.list(S.obj({ destination, percentage: percent })),
  mirrorPercentage: percent,
  mirrorPercent: S.uint32,
  mirror_percent: S.uint32,
  corsPolicy: S.obj({
    allowOrigin: stringList,
    allowOrigins: S.list(stringMatch),
    allowMethods: stringList,
    allowHeaders: stringList,
    exposeHeaders: stringList,
    maxAge: S.duration,
    allowCredentials: S.bool,
    unmatchedPreflights: S.enum('UNSPECIFIED', 'FORWARD', 'IGNORE')
  }),
  headers
})

const l4Match = {
  destinationSubnets: stringList,
  port: S.uint32,
  sourceLabels: stringMap,
  gateways: stringList,
  sourceNamespace: S.string
}
const routeDestination = S.obj({ destination, weight: S.int32 })

export const virtualServiceSpec = S.obj({
  hosts: stringList,
  gateways: stringList,
  http: S.list(httpRoute),
  tls: S.list(S.obj({ match: S.list(S.obj({ ...l4Match, sniHosts: stringList })), route: S.list(routeDestination) })),
  tcp: S.list(S.obj({ match: S.list(S.obj({ ...l4Match, sourceSubnet: S.string })), route: S.list(routeDestination) })),
  exportTo: stringList
})

// ---------------------------------------------------------------- Gateway

export const TLS_VERSIONS = ['TLS_AUTO', 'TLSV1_0', 'TLSV1_1', 'TLSV1_2', 'TLSV1_3']

export const gatewaySpec = S.obj({
  selector: stringMap,
  servers: S.list(S.obj({
    port: S.obj({ number: S.uint32, protocol: S.string, name: S.string, targetPort: S.uint32 }),
    bind: S.string,
    hosts: stringList,
    tls: S.obj({
      httpsRedirect: S.bool,
      mode: S.enum('PASSTHROUGH', 'SIMPLE', 'MUTUAL', 'AUTO_PASSTHROUGH', 'ISTIO_MUTUAL', 'OPTIONAL_MUTUAL'),
      serverCertificate: S.string,
      privateKey: S.string,
      caCertificates: S.string,
      caCrl: S.string,
      credentialName: S.string,
      credentialNames: stringList,
      caCertCredentialName: S.string,
      tlsCertificates: S.list(S.obj({ serverCertificate: S.string, privateKey: S.string, caCertificates: S.string })),
      subjectAltNames: stringList,
      verifyCertificateSpki: stringList,
      verifyCertificateHash: stringList,
      minProtocolVersion: S.enum(...TLS_VERSIONS),
      maxProtocolVersion: S.enum(...TLS_VERSIONS),
      cipherSuites: stringList,
      insecureSkipVerify: S.bool
    }),
    defaultEndpoint: S.string,
    name: S.string
  }))
})

// ---------------------------------------------------------------- DestinationRule

const failover = S.list(S.obj({ from: S.string, to: S.string }))

const loadBalancer = S.obj({
  simple: S.enum('UNSPECIFIED', 'LEAST_CONN', 'RANDOM', 'PASSTHROUGH', 'ROUND_ROBIN', 'LEAST_REQUEST'),
  consistentHash: S.obj({
    httpHeaderName: S.string,
    httpCookie: S.obj({
      name: S.string,
      path: S.string,
      ttl: S.anyDuration,
      attributes: S.list(S.obj({ name: S.string, value: S.string }))
    }),
    useSourceIp: S.bool,
    httpQueryParameterName: S.string,
    ringHash: S.obj({ minimumRingSize: S.uint32 }),
    maglev: S.obj({ tableSize: S.uint32 }),
    minimumRingSize: S.uint32
  }),
  localityLbSetting: S.obj({
    distribute: S.list(S.obj({ from: S.string, to: S.map(S.uint32) })),
    failover,
    failoverPriority: stringList,
    enabled: S.bool
  }),
  zoneAwareLbSetting: S.obj({ enabled: S.bool, failover, failoverPriority: stringList, minClusterSize: S.uint32 }),
  warmupDurationSecs: S.duration,
  warmup: S.obj({ duration: S.duration, minimumPercent: S.number, aggression: S.number })
})

const connectionPool = S.obj({
  tcp: S.obj({
    maxConnections: S.int32,
    connectTimeout: S.duration,
    tcpKeepalive: S.obj({ probes: S.uint32, time: S.duration, interval: S.duration }),
    maxConnectionDuration: S.duration,
    idleTimeout: S.anyDuration
  }),
  http: S.obj({
    http1MaxPendingRequests: S.int32,
    http2MaxRequests: S.int32,
    maxRequestsPerConnection: S.int32,
    maxRetries: S.int32,
    idleTimeout: S.duration,
    h2UpgradePolicy: S.enum('DEFAULT', 'DO_NOT_UPGRADE', 'UPGRADE'),
    useClientProtocol: S.bool,
    maxConcurrentStreams: S.int32,
    http2KeepAlive: S.obj({ interval: S.duration, timeout: S.duration })
  })
})

const outlierDetection = S.obj({
  splitExternalLocalOriginErrors: S.bool,
  consecutiveLocalOriginFailures: S.uint32,
  consecutiveGatewayErrors: S.uint32,
  consecutive5xxErrors: S.uint32,
  consecutiveErrors: S.int32,
  interval: S.duration,
  baseEjectionTime: S.duration,
  maxEjectionPercent: S.int32,
  minHealthPercent: S.int32,
  outlierDetectionHttpErrorCodes: S.list(S.uint32)
})

const clientTLS = S.obj({
  mode: S.enum('DISABLE', 'SIMPLE', 'MUTUAL', 'ISTIO_MUTUAL'),
  clientCertificate: S.string,
  privateKey: S.string,
  caCertificates: S.string,
  credentialName: S.string,
  subjectAltNames: stringList,
  sni: S.string,
  insecureSkipVerify: S.bool,
  caCrl: S.string
})

const portPolicy = {
  loadBalancer,
  connectionPool,
  outlierDetection,
  tls: clientTLS
}

const trafficPolicy = S.obj({
  ...portPolicy,
  portLevelSettings: S.list(S.obj({ port: portSelector, ...portPolicy })),
  tunnel: S.obj({ protocol: S.string, targetHost: S.string, targetPort: S.uint32 }),
  proxyProtocol: S.obj({ version: S.enum('V1', 'V2') }),
  retryBudget: S.obj({ percent: S.number, minRetryConcurrency: S.uint32, budgetInterval: S.anyDuration })
})

export const destinationRuleSpec = S.obj({
  host: S.string,
  trafficPolicy,
  subsets: S.list(S.obj({ name: S.string, labels: stringMap, trafficPolicy })),
  exportTo: stringList,
  workloadSelector: S.obj({ matchLabels: stringMap })
})

// ---------------------------------------------------------------- ServiceEntry / WorkloadEntry

const workloadEntryFields = {
  address: S.string,
  ports: S.map(S.uint32),
  labels: stringMap,
  network: S.string,
  locality: S.string,
  weight: S.uint32,
  serviceAccount: S.string
}

export const workloadEntrySpec = S.obj(workloadEntryFields)

export const serviceEntrySpec = S.obj({
  hosts: stringList,
  addresses: stringList,
  ports: S.list(S.obj({ number: S.uint32, protocol: S.string, name: S.string, targetPort: S.uint32 })),
  location: S.enum('MESH_EXTERNAL', 'MESH_INTERNAL'),
  resolution: S.enum('NONE', 'STATIC', 'DNS', 'DNS_ROUND_ROBIN', 'DYNAMIC_DNS'),
  endpoints: S.list(workloadEntrySpec),
  workloadSelector: S.obj({ labels: stringMap }),
  exportTo: stringList,
  subjectAltNames: stringList
})

/** Resource metadata: only the fields Ferry reads are typed; the rest of ObjectMeta is allowed as is. */
export const metadataShape: Shape = {
  t: 'object',
  open: true,
  fields: { name: S.string, namespace: S.string, labels: stringMap, annotations: stringMap }
}
