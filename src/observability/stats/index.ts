// Ferry's stats layer: Envoy's stat tree (cluster.*, http.*, listener.*, server.*) and Istio's
// standard metrics, as plain counters the request path bumps through handles resolved at config
// compile time, rendered on demand as Envoy /stats text, JSON, or Prometheus (via prom-client).

export type { Counter, Gauge, Histogram } from './metric'
export { ENVOY_DEFAULT_BUCKETS, SUPPORTED_QUANTILES } from './metric'
export {
  StatsStore,
  type ClusterStats, type HttpConnManagerStats, type ListenerStats, type ServerStats, type ServerState,
  type StatsStoreOptions, type StatsJson, type EnvoyHistogramsJson, type ZipkinCounts
} from './store'
export {
  ISTIO_METRICS, ISTIO_STATIC_LABELS,
  type IstioMetrics, type IstioStaticLabels, type IstioRequestRecorder, type IstioTcpRecorder
} from './istio'
export {
  workloadIdentity, workloadNameFromPod, parsePeerMetadata, encodePeerMetadata,
  decodeProtobufStruct, encodeProtobufStruct,
  type WorkloadIdentity, type PeerIdentity
} from './identity'
export {
  CLUSTER_STATS, OUTLIER_DETECTION_STATS, CIRCUIT_BREAKER_STATS, HTTP_CONN_MANAGER_STATS, FAULT_STATS,
  TRACING_STATS, ZIPKIN_TRACER_STATS, LISTENER_STATS, SERVER_STATS, CLUSTER_MANAGER_STATS, LISTENER_MANAGER_STATS,
  type StatTable, type StatHandles
} from './table'
