// /config_dump: the active Istio resources and what they compiled to. Not Envoy's protobuf
// dump (there is no xDS here), but the same questions answer from it: which resources are
// active, which clusters and routes exist, and with what endpoints and limits.

import type { Snapshot } from '../model/snapshot'

const finite = (_k: string, v: unknown): unknown => (v === Number.POSITIVE_INFINITY ? 'unlimited' : v)

export function configDump (s: Snapshot): unknown {
  return JSON.parse(JSON.stringify({
    version: s.version,
    created_at: s.createdAt.toISOString(),
    resources: {
      gateways: s.config.gateways,
      virtual_services: s.config.virtualServices,
      destination_rules: s.config.destinationRules,
      service_entries: s.config.serviceEntries,
      workload_entries: s.config.workloadEntries
    },
    clusters: [...s.clusterSpecs.values()],
    listeners: s.gatewayListeners.map(l => ({
      name: l.name,
      address: l.address,
      port: l.port,
      gateways: l.gateways,
      route_config: routeConfig(l.routeTable)
    })),
    mesh_route_configs: [...s.meshRouteTables.values()].map(routeConfig),
    warnings: s.diagnostics.filter(d => d.severity === 'warning')
  }, finite))
}

function routeConfig (t: Snapshot['meshRouteTables'] extends ReadonlyMap<number, infer R> ? R : never): unknown {
  return {
    name: t.name,
    virtual_hosts: t.virtualHosts.map(v => ({
      name: v.name,
      domains: v.domains,
      routes: v.routes.map(r => ({
        name: r.name,
        virtual_service: r.virtualService,
        action: r.action.kind === 'route'
          ? { route: r.action.destinations.map(d => ({ cluster: d.clusterName })) }
          : r.action.kind === 'redirect' ? { redirect: r.action.redirect } : { direct_response: { status: r.action.status } },
        timeout_ms: r.timeoutMs,
        retries: { num_retries: r.retry.numRetries, per_try_timeout_ms: r.retry.perTryTimeoutMs }
      }))
    }))
  }
}
