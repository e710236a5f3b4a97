// Istio's standard metric labels for one (reporter, source, destination) triple. Both sides of
// the sidecar build them here: outbound (reporter=source) knows itself and the endpoint it
// picked; inbound (reporter=destination) knows itself and what the caller's proxy sent in
// x-envoy-peer-metadata. Anything not known is `unknown`, as Istio reports it.

import type { IstioStaticLabels, WorkloadIdentity } from './stats'

const U = 'unknown'

export interface ServiceLabels {
  host: string
  name: string
  namespace: string
}

export function istioLabels (
  reporter: IstioStaticLabels['reporter'],
  source: WorkloadIdentity | null,
  destination: WorkloadIdentity | null,
  service: ServiceLabels | null,
  connectionSecurityPolicy: string
): IstioStaticLabels {
  return {
    reporter,
    source_workload: source?.workload ?? U,
    source_workload_namespace: source?.namespace ?? U,
    source_principal: source?.principal ?? U,
    source_app: source?.app ?? U,
    source_version: source?.version ?? U,
    source_canonical_service: source?.canonicalService ?? U,
    source_canonical_revision: source?.canonicalRevision ?? U,
    source_cluster: source?.cluster ?? U,
    destination_workload: destination?.workload ?? U,
    destination_workload_namespace: destination?.namespace ?? U,
    destination_principal: destination?.principal ?? U,
    destination_app: destination?.app ?? U,
    destination_version: destination?.version ?? U,
    destination_service: service?.host ?? U,
    destination_service_name: service?.name ?? U,
    destination_service_namespace: service?.namespace ?? U,
    destination_canonical_service: destination?.canonicalService ?? U,
    destination_canonical_revision: destination?.canonicalRevision ?? U,
    destination_cluster: destination?.cluster ?? U,
    request_protocol: 'http',
    connection_security_policy: connectionSecurityPolicy
  }
}
