// Every Envoy stat Ferry keeps, declared once (Envoy's `ALL_CLUSTER_TRAFFIC_STATS(COUNTER, GAUGE, ...)`
// macros). The handle types the request path uses are derived from these tables, so adding a
// stat is one line here and it appears in /stats, /stats?format=json and /stats/prometheus with
// a HELP text. Names are Envoy's exactly (configuration/upstream/cluster_manager/cluster_stats.rst,
// http_conn_man/stats.rst, listeners/stats.rst, http_filters/router_filter.rst, fault_filter.rst);
// a stat Ferry has no use for yet is simply not listed rather than listed and never written.
//
// Stats whose names depend on runtime values (`upstream_rq_200`, `downstream_rq_5xx`) are not in
// the tables: like Envoy's `CodeStatsImpl` they are created the first time a code is seen.

import type { Counter, Gauge, Histogram } from './metric'

export interface StatTable {
  readonly counters: Readonly<Record<string, string>>
  readonly gauges: Readonly<Record<string, string>>
  readonly histograms: Readonly<Record<string, string>>
}

/** Handles for one table: `stats.upstream_rq_total.inc()`. */
export type StatHandles<T extends StatTable> =
  { readonly [K in keyof T['counters']]: Counter } &
  { readonly [K in keyof T['gauges']]: Gauge } &
  { readonly [K in keyof T['histograms']]: Histogram }

const NONE = {} as const

/** `cluster.<name>.*` */
export const CLUSTER_STATS = {
  counters: {
    upstream_cx_total: 'Total upstream connections',
    upstream_cx_http1_total: 'Total HTTP/1.1 upstream connections',
    upstream_cx_http2_total: 'Total HTTP/2 upstream connections',
    upstream_cx_connect_fail: 'Total upstream connection failures',
    upstream_cx_connect_timeout: 'Total upstream connection connect timeouts',
    upstream_cx_idle_timeout: 'Total upstream connections closed by the idle timeout',
    upstream_cx_max_requests: 'Total upstream connections closed after max requests per connection',
    upstream_cx_max_duration_reached: 'Total upstream connections closed by tcp.maxConnectionDuration',
    upstream_cx_overflow: 'Total times the connection circuit breaker overflowed',
    upstream_cx_pool_overflow: 'Total times the connection pool circuit breaker overflowed',
    upstream_cx_none_healthy: 'Total times no connection was made because no host was healthy',
    upstream_cx_protocol_error: 'Total upstream connection protocol errors',
    upstream_cx_close_notify: 'Total upstream connections closed by Connection: close or GOAWAY',
    upstream_cx_destroy: 'Total destroyed upstream connections',
    upstream_cx_destroy_local: 'Total upstream connections destroyed locally',
    upstream_cx_destroy_remote: 'Total upstream connections destroyed remotely',
    upstream_cx_destroy_with_active_rq: 'Total upstream connections destroyed with 1+ active request',
    upstream_cx_destroy_local_with_active_rq: 'Total upstream connections destroyed locally with 1+ active request',
    upstream_cx_destroy_remote_with_active_rq: 'Total upstream connections destroyed remotely with 1+ active request',
    upstream_cx_rx_bytes_total: 'Total bytes received on upstream connections',
    upstream_cx_tx_bytes_total: 'Total bytes sent on upstream connections',
    upstream_rq_total: 'Total upstream requests',
    upstream_rq_completed: 'Total upstream requests that got a response',
    upstream_rq_pending_total: 'Total upstream requests that waited for a pool connection',
    upstream_rq_pending_overflow: 'Total upstream requests failed by pending or request circuit breaking',
    upstream_rq_pending_failure_eject: 'Total pending requests failed by a connection failure or remote close',
    upstream_rq_cancelled: 'Total upstream requests cancelled before getting a pool connection',
    upstream_rq_maintenance_mode: 'Total upstream requests answered 503 by maintenance mode',
    upstream_rq_timeout: 'Total upstream requests that timed out waiting for a response',
    upstream_rq_per_try_timeout: 'Total upstream requests that hit the per try timeout',
    upstream_rq_rx_reset: 'Total upstream requests reset by the remote end',
    upstream_rq_tx_reset: 'Total upstream requests reset locally',
    upstream_rq_retry: 'Total upstream request retries',
    upstream_rq_retry_success: 'Total upstream request retry successes',
    upstream_rq_retry_limit_exceeded: 'Total upstream requests not retried because max retries was reached',
    upstream_rq_retry_overflow: 'Total upstream requests not retried because of circuit breaking or retry budget',
    upstream_rq_retry_backoff_exponential: 'Total retries that used exponential backoff',
    lb_healthy_panic: 'Total requests load balanced in panic mode',
    lb_subsets_created: 'Total load balancer subsets created',
    lb_subsets_removed: 'Total load balancer subsets removed',
    lb_subsets_selected: 'Total times a load balancer subset was selected',
    lb_subsets_fallback: 'Total times the subset fallback policy was used',
    original_dst_host_invalid: 'Total invalid hosts passed to the original destination load balancer',
    membership_change: 'Total cluster membership changes',
    update_attempt: 'Total attempted cluster membership updates by service discovery',
    update_success: 'Total successful cluster membership updates by service discovery',
    update_failure: 'Total failed cluster membership updates by service discovery',
    update_empty: 'Total membership updates that ended with an empty endpoint set'
  },
  gauges: {
    upstream_cx_active: 'Active upstream connections',
    upstream_rq_active: 'Active upstream requests',
    upstream_rq_pending_active: 'Upstream requests waiting for a pool connection',
    membership_healthy: 'Healthy hosts in the cluster (health checking and outlier detection)',
    membership_degraded: 'Degraded hosts in the cluster',
    membership_excluded: 'Excluded hosts in the cluster',
    membership_total: 'Hosts in the cluster',
    max_host_weight: 'Largest host weight in the cluster',
    lb_subsets_active: 'Load balancer subsets currently available'
  },
  histograms: {
    upstream_cx_connect_ms: 'Upstream connection establishment milliseconds',
    upstream_cx_length_ms: 'Upstream connection length milliseconds',
    upstream_rq_time: 'Upstream request time milliseconds (until the response is complete)'
  }
} as const satisfies StatTable

/** `cluster.<name>.outlier_detection.*` */
export const OUTLIER_DETECTION_STATS = {
  counters: {
    ejections_enforced_total: 'Enforced ejections of any outlier type',
    ejections_overflow: 'Ejections aborted because of max ejection percent',
    ejections_enforced_consecutive_5xx: 'Enforced consecutive 5xx ejections',
    ejections_detected_consecutive_5xx: 'Detected consecutive 5xx ejections (even if unenforced)',
    ejections_enforced_success_rate: 'Enforced success rate ejections',
    ejections_detected_success_rate: 'Detected success rate ejections (even if unenforced)',
    ejections_enforced_consecutive_gateway_failure: 'Enforced consecutive gateway failure ejections',
    ejections_detected_consecutive_gateway_failure: 'Detected consecutive gateway failure ejections (even if unenforced)',
    ejections_enforced_consecutive_local_origin_failure: 'Enforced consecutive local origin failure ejections',
    ejections_detected_consecutive_local_origin_failure: 'Detected consecutive local origin failure ejections (even if unenforced)',
    ejections_enforced_local_origin_success_rate: 'Enforced local origin success rate ejections',
    ejections_detected_local_origin_success_rate: 'Detected local origin success rate ejections (even if unenforced)',
    ejections_enforced_failure_percentage: 'Enforced failure percentage ejections',
    ejections_detected_failure_percentage: 'Detected failure percentage ejections (even if unenforced)',
    ejections_enforced_failure_percentage_local_origin: 'Enforced local origin failure percentage ejections',
    ejections_detected_failure_percentage_local_origin: 'Detected local origin failure percentage ejections (even if unenforced)',
    ejections_total: 'Deprecated: ejections of any outlier type (even if unenforced)',
    ejections_consecutive_5xx: 'Deprecated: consecutive 5xx ejections (even if unenforced)'
  },
  gauges: {
    ejections_active: 'Hosts currently ejected'
  },
  histograms: NONE
} as const satisfies StatTable

/**
 * `cluster.<name>.circuit_breakers.default.*`. Istio only programs the default priority, so the
 * `high` tree Envoy also has is left out. `remaining_*` exist because istiod sets `track_remaining`.
 */
export const CIRCUIT_BREAKER_STATS = {
  counters: NONE,
  gauges: {
    cx_open: 'Connection circuit breaker at capacity (1) or not (0)',
    cx_pool_open: 'Connection pool circuit breaker at capacity (1) or not (0)',
    rq_pending_open: 'Pending requests circuit breaker at capacity (1) or not (0)',
    rq_open: 'Requests circuit breaker at capacity (1) or not (0)',
    rq_retry_open: 'Retry circuit breaker at capacity (1) or not (0)',
    remaining_cx: 'Connections remaining until the circuit breaker opens',
    remaining_cx_pools: 'Connection pools remaining until the circuit breaker opens',
    remaining_pending: 'Pending requests remaining until the circuit breaker opens',
    remaining_rq: 'Requests remaining until the circuit breaker opens',
    remaining_retries: 'Retries remaining until the circuit breaker opens'
  },
  histograms: NONE
} as const satisfies StatTable

/**
 * `http.<stat_prefix>.*`: the connection manager's own stats plus the router filter's, which Envoy
 * roots at the same prefix.
 */
export const HTTP_CONN_MANAGER_STATS = {
  counters: {
    downstream_cx_total: 'Total downstream connections',
    downstream_cx_ssl_total: 'Total downstream TLS connections',
    downstream_cx_http1_total: 'Total downstream HTTP/1.1 connections',
    downstream_cx_http2_total: 'Total downstream HTTP/2 connections',
    downstream_cx_upgrades_total: 'Total downstream connections successfully upgraded',
    downstream_cx_destroy: 'Total downstream connections destroyed',
    downstream_cx_destroy_local: 'Total downstream connections destroyed locally',
    downstream_cx_destroy_remote: 'Total downstream connections destroyed by the remote end',
    downstream_cx_destroy_active_rq: 'Total downstream connections destroyed with 1+ active request',
    downstream_cx_destroy_local_active_rq: 'Total downstream connections destroyed locally with 1+ active request',
    downstream_cx_destroy_remote_active_rq: 'Total downstream connections destroyed remotely with 1+ active request',
    downstream_cx_protocol_error: 'Total downstream protocol errors',
    downstream_cx_rx_bytes_total: 'Total bytes received from downstream',
    downstream_cx_tx_bytes_total: 'Total bytes sent to downstream',
    downstream_cx_drain_close: 'Total downstream connections closed by draining',
    downstream_cx_idle_timeout: 'Total downstream connections closed by the idle timeout',
    downstream_cx_max_duration_reached: 'Total downstream connections closed by max connection duration',
    downstream_cx_max_requests_reached: 'Total downstream connections closed by max requests per connection',
    downstream_rq_total: 'Total downstream requests',
    downstream_rq_http1_total: 'Total downstream HTTP/1.1 requests',
    downstream_rq_http2_total: 'Total downstream HTTP/2 requests',
    downstream_rq_completed: 'Total downstream requests that got a response',
    downstream_rq_rx_reset: 'Total downstream request resets received',
    downstream_rq_tx_reset: 'Total downstream request resets sent',
    downstream_rq_non_relative_path: 'Total downstream requests with a non-relative path',
    downstream_rq_too_large: 'Total downstream requests answered 413 because the buffered body was too large',
    downstream_rq_response_before_rq_complete: 'Total responses sent before the request was complete',
    downstream_rq_ws_on_non_ws_route: 'Total upgrade requests rejected by routes without upgrade',
    downstream_rq_idle_timeout: 'Total downstream requests closed by the stream idle timeout',
    downstream_rq_max_duration_reached: 'Total downstream requests closed by max stream duration',
    downstream_rq_timeout: 'Total downstream requests closed by the request timeout',
    downstream_rq_overload_close: 'Total downstream requests closed because of overload',
    rs_too_large: 'Total responses failed because the buffered body was too large',
    // Router filter (http_filters/router_filter.rst), rooted at the same prefix.
    no_route: 'Total requests with no matching route',
    no_cluster: 'Total requests whose route named a cluster that does not exist',
    rq_redirect: 'Total requests answered with a route redirect',
    rq_direct_response: 'Total requests answered with a direct response',
    rq_total: 'Total requests routed by the router',
    rq_reset_after_downstream_response_started: 'Total requests reset after the downstream response started'
  },
  gauges: {
    downstream_cx_active: 'Active downstream connections',
    downstream_cx_ssl_active: 'Active downstream TLS connections',
    downstream_cx_http1_active: 'Active downstream HTTP/1.1 connections',
    downstream_cx_http2_active: 'Active downstream HTTP/2 connections',
    downstream_cx_upgrades_active: 'Active upgraded downstream connections',
    downstream_rq_active: 'Active downstream requests'
  },
  histograms: {
    downstream_cx_length_ms: 'Downstream connection length milliseconds',
    downstream_rq_time: 'Downstream request and response time milliseconds'
  }
} as const satisfies StatTable

/** `http.<stat_prefix>.fault.*` (http_filters/fault_filter.rst). */
export const FAULT_STATS = {
  counters: {
    delays_injected: 'Total requests delayed by fault injection',
    aborts_injected: 'Total requests aborted by fault injection',
    faults_overflow: 'Total faults not injected because of max_active_faults',
    response_rl_injected: 'Total responses rate limited by fault injection'
  },
  gauges: {
    active_faults: 'Faults currently in effect'
  },
  histograms: NONE
} as const satisfies StatTable

/** `http.<stat_prefix>.tracing.*` */
export const TRACING_STATS = {
  counters: {
    random_sampling: 'Total trace decisions by random sampling',
    service_forced: 'Total trace decisions forced by the service',
    client_enabled: 'Total trace decisions by x-envoy-force-trace',
    not_traceable: 'Total non-traceable decisions by request id',
    health_check: 'Total non-traceable decisions because of health checks'
  },
  gauges: NONE,
  histograms: NONE
} as const satisfies StatTable

/**
 * `tracing.zipkin.*` (Envoy's `ZIPKIN_TRACER_STATS`). The exporter keeps these counts itself (see
 * StatsStore.zipkinTracer). Envoy counts a non-2xx answer as `reports_dropped` and a connection
 * failure as `reports_failed`; Ferry's exporter counts both as `reports_failed`, so
 * `reports_dropped` is not listed. `spans_dropped` is Ferry's own: spans pushed out of the full
 * export queue (Envoy's span buffer drops silently). `timer_flushed` is not kept.
 */
export const ZIPKIN_TRACER_STATS = {
  counters: {
    spans_sent: 'Total spans in reports the collector accepted',
    spans_dropped: 'Total spans dropped because the export queue was full (Ferry)',
    reports_sent: 'Total reports the collector accepted',
    reports_failed: 'Total reports that failed: connection error, timeout or a non-2xx answer'
  },
  gauges: NONE,
  histograms: NONE
} as const satisfies StatTable

/** `listener.<address>.*` */
export const LISTENER_STATS = {
  counters: {
    downstream_cx_total: 'Total connections accepted',
    downstream_cx_destroy: 'Total connections destroyed',
    downstream_cx_overflow: 'Total connections rejected by the listener connection limit',
    downstream_cx_overload_reject: 'Total connections rejected because of overload',
    downstream_global_cx_overflow: 'Total connections rejected by the global connection limit',
    downstream_pre_cx_timeout: 'Total sockets that timed out in listener filters',
    no_filter_chain_match: 'Total connections that matched no filter chain'
  },
  gauges: {
    downstream_cx_active: 'Active connections',
    downstream_pre_cx_active: 'Sockets currently in listener filters'
  },
  histograms: {
    downstream_cx_length_ms: 'Connection length milliseconds'
  }
} as const satisfies StatTable

/**
 * `server.*`: all gauges computed when read (see `ServerStats`). `server.state` follows Envoy's enum:
 * 0 live, 1 draining, 2 pre-initializing, 3 initializing.
 */
export const SERVER_STATS = {
  counters: NONE,
  gauges: {
    live: '1 if the server is not draining',
    state: 'Server state: 0 live, 1 draining, 2 pre-initializing, 3 initializing',
    uptime: 'Seconds since the server started',
    concurrency: 'Worker count',
    memory_allocated: 'Bytes of JavaScript heap in use',
    memory_heap_size: 'Bytes of JavaScript heap reserved',
    memory_physical_size: 'Resident set size in bytes',
    total_connections: 'Open downstream connections across all listeners',
    parent_connections: 'Connections held by a hot restart parent (always 0)',
    version: 'Ferry version as an integer: major*1000000 + minor*1000 + patch',
    hot_restart_epoch: 'Hot restart epoch (always 0)'
  },
  histograms: NONE
} as const satisfies StatTable

/** `cluster_manager.*`; `active_clusters` is computed from the clusters the store holds. */
export const CLUSTER_MANAGER_STATS = {
  counters: {
    cluster_added: 'Total clusters added',
    cluster_removed: 'Total clusters removed'
  },
  gauges: {
    active_clusters: 'Clusters currently known'
  },
  histograms: NONE
} as const satisfies StatTable

/** `listener_manager.*`; `total_listeners_active` is computed from the listeners the store holds. */
export const LISTENER_MANAGER_STATS = {
  counters: {
    listener_added: 'Total listeners added',
    listener_removed: 'Total listeners removed'
  },
  gauges: {
    total_listeners_active: 'Listeners currently known'
  },
  histograms: NONE
} as const satisfies StatTable

/** Help text of the families whose names are built from a response code. */
export const DYNAMIC_STAT_HELP = {
  'cluster.upstream_rq': 'Upstream responses by response_code or response_code_class (upstream_rq_<code>, upstream_rq_<N>xx)',
  'http.downstream_rq': 'Downstream responses by response_code_class (downstream_rq_<N>xx)'
} as const
