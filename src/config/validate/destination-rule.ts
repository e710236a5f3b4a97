// DestinationRule: host, subsets and traffic policies (Istio's ValidateDestinationRule plus the
// CRD schema's ranges and one-of rules).
import { checkExportTo, checkIntPercent, checkLabels, checkSelectorLabels, field } from './common'
import { checkSubsetName } from './destinations'
import { checkFQDN, checkPort, checkWildcardDomain, isIPAddress } from './names'
import { child, item } from './path'
import { duplicate, invalid, required, type Report } from './report'
import { entries, has, list, num, obj, str, type Obj } from './values'

export function checkDestinationRule (spec: Obj, report: Report, namespace: string | undefined): void {
  const host = str(spec.host) ?? ''
  const hostErr = checkWildcardDomain(host)
  if (hostErr !== undefined) report.error('spec.host', host === '' ? required(hostErr) : hostErr)
  checkTrafficPolicy(field(spec, 'trafficPolicy'), 'spec.trafficPolicy', report)
  const names = new Set<string>()
  list(spec.subsets).forEach((raw, i) => {
    const p = item('spec.subsets', i)
    const subset = obj(raw)
    if (subset === undefined) {
      report.error(p, 'subset may not be null')
      return
    }
    const name = str(subset.name)
    if (name === undefined) {
      report.error(child(p, 'name'), required())
    } else {
      if (names.has(name)) report.error(child(p, 'name'), `${duplicate(name)}: duplicate subset names: ${name}`)
      names.add(name)
      const err = checkSubsetName(name)
      if (err !== undefined) report.error(child(p, 'name'), err)
    }
    checkLabels(subset.labels, child(p, 'labels'), report)
    checkTrafficPolicy(field(subset, 'trafficPolicy'), child(p, 'trafficPolicy'), report)
  })
  checkExportTo(spec.exportTo, 'spec.exportTo', report, namespace, false)
  const selector = field(spec, 'workloadSelector')
  if (selector !== undefined) {
    checkSelectorLabels(selector.matchLabels, 'spec.workloadSelector.matchLabels', report, 'workload selector specified without labels')
    const exportTo = list(spec.exportTo).map(str)
    // A rule that applies to chosen workloads only makes sense in their namespace.
    if (exportTo.some(e => e !== '.' && e !== namespace)) {
      report.error('spec.exportTo', 'destination rule with workload selector cannot have exportTo beyond current namespace')
    }
  }
}

function checkTrafficPolicy (policy: Obj | undefined, path: string, report: Report): void {
  if (policy === undefined) return
  const groups = ['outlierDetection', 'connectionPool', 'loadBalancer', 'tls', 'portLevelSettings', 'tunnel', 'proxyProtocol', 'retryBudget']
  if (!groups.some(g => has(policy, g))) {
    report.error(path, 'traffic policy must have at least one field')
    return
  }
  if (has(policy, 'tunnel') && has(policy, 'proxyProtocol')) report.error(path, 'tunnel and proxyProtocol must not be set together')
  checkPortPolicy(policy, path, report)
  list(policy.portLevelSettings).forEach((raw, i) => {
    const p = item(child(path, 'portLevelSettings'), i)
    const pl = obj(raw)
    if (pl === undefined) {
      report.error(p, 'traffic policy may not be null')
      return
    }
    const port = field(pl, 'port')
    if (port === undefined) report.error(child(p, 'port'), required('portTrafficPolicy must have valid port'))
    else {
      const err = checkPort(num(port.number) ?? 0)
      if (err !== undefined) report.error(child(child(p, 'port'), 'number'), err)
    }
    if (!['outlierDetection', 'connectionPool', 'loadBalancer', 'tls'].some(g => has(pl, g))) {
      report.error(p, 'port traffic policy must have at least one field')
    } else {
      checkPortPolicy(pl, p, report)
    }
  })
  checkTunnel(field(policy, 'tunnel'), child(path, 'tunnel'), report)
  const budget = num(field(policy, 'retryBudget')?.percent)
  if (budget !== undefined && (budget < 0 || budget > 100)) report.error(child(child(path, 'retryBudget'), 'percent'), invalid(budget, 'must be between 0 and 100'))
}

/** The groups a port-level policy shares with the rule-level one. */
function checkPortPolicy (policy: Obj, path: string, report: Report): void {
  const outlier = field(policy, 'outlierDetection')
  checkOutlierDetection(outlier, child(path, 'outlierDetection'), report)
  checkConnectionPool(field(policy, 'connectionPool'), child(path, 'connectionPool'), report)
  checkLoadBalancer(field(policy, 'loadBalancer'), child(path, 'loadBalancer'), report, outlier !== undefined)
  checkClientTLS(field(policy, 'tls'), child(path, 'tls'), report)
}

function checkOutlierDetection (od: Obj | undefined, path: string, report: Report): void {
  if (od === undefined) return
  if (num(od.consecutiveErrors) !== undefined && od.consecutiveErrors !== 0) {
    report.warn(child(path, 'consecutiveErrors'), 'outlier detection consecutive errors is deprecated, use consecutiveGatewayErrors or consecutive5xxErrors instead')
  }
  if (od.splitExternalLocalOriginErrors !== true && (num(od.consecutiveLocalOriginFailures) ?? 0) > 0) {
    report.error(child(path, 'consecutiveLocalOriginFailures'), 'outlier detection consecutive local origin failures is specified, but split external local origin errors is set to false')
  }
  checkIntPercent(num(od.maxEjectionPercent), child(path, 'maxEjectionPercent'), report)
  checkIntPercent(num(od.minHealthPercent), child(path, 'minHealthPercent'), report)
  list(od.outlierDetectionHttpErrorCodes).forEach((raw, i) => {
    const code = num(raw)
    if (code !== undefined && (code < 100 || code > 599)) report.error(item(child(path, 'outlierDetectionHttpErrorCodes'), i), invalid(code, 'must be between 100 and 599'))
  })
}

function checkConnectionPool (cp: Obj | undefined, path: string, report: Report): void {
  if (cp === undefined) return
  const http = field(cp, 'http')
  const tcp = field(cp, 'tcp')
  if (http === undefined && tcp === undefined) {
    report.error(path, 'connection pool must have at least one field')
    return
  }
  const nonNegative = (o: Obj | undefined, key: string, what: string, p: string): void => {
    const v = num(o?.[key])
    if (v !== undefined && v < 0) report.error(child(p, key), `${what} must be non-negative`)
  }
  const hp = child(path, 'http')
  nonNegative(http, 'http1MaxPendingRequests', 'http1 max pending requests', hp)
  nonNegative(http, 'http2MaxRequests', 'http2 max requests', hp)
  nonNegative(http, 'maxRequestsPerConnection', 'max requests per connection', hp)
  nonNegative(http, 'maxRetries', 'max retries', hp)
  nonNegative(http, 'maxConcurrentStreams', 'max concurrent streams', hp)
  if (str(http?.h2UpgradePolicy) === 'UPGRADE' && http?.useClientProtocol === true) {
    report.error(child(hp, 'useClientProtocol'), 'use client protocol must not be true when H2UpgradePolicy is UPGRADE')
  }
  nonNegative(tcp, 'maxConnections', 'max connections', child(path, 'tcp'))
}

/** Maglev needs a prime table size (the same primality test Envoy applies). */
function isPrime (x: number): boolean {
  if (x !== 0 && x < 4) return true
  if (x % 2 === 0) return false
  for (let f = 3; f * f <= x; f += 2) if (x % f === 0) return false
  return true
}

function checkLoadBalancer (lb: Obj | undefined, path: string, report: Report, hasOutlier: boolean): void {
  if (lb === undefined) return
  if (has(lb, 'simple') && has(lb, 'consistentHash')) report.error(path, 'only one of simple or consistentHash may be set')
  if (has(lb, 'warmupDurationSecs') && has(lb, 'warmup')) report.error(path, 'only one of warmupDurationSecs or warmup can be set')
  const ch = field(lb, 'consistentHash')
  if (ch !== undefined) {
    const p = child(path, 'consistentHash')
    const keys = ['httpHeaderName', 'httpCookie', 'useSourceIp', 'httpQueryParameterName'].filter(k => has(ch, k))
    if (keys.length > 1) report.error(p, `only one of httpHeaderName, httpCookie, useSourceIp or httpQueryParameterName may be set (found ${keys.join(', ')})`)
    if (has(ch, 'ringHash') && has(ch, 'maglev')) report.error(p, 'only one of ringHash or maglev may be set')
    const cookie = field(ch, 'httpCookie')
    if (cookie !== undefined && (str(cookie.name) ?? '') === '') report.error(child(child(p, 'httpCookie'), 'name'), required('name required for HttpCookie'))
    if ((num(ch.minimumRingSize) ?? 0) !== 0) {
      report.warn(child(p, 'minimumRingSize'), "consistent hash MinimumRingSize is deprecated, use ConsistentHashLB's RingHash configuration instead")
      if (has(ch, 'ringHash') || has(ch, 'maglev')) report.error(child(p, 'minimumRingSize'), 'only one of MinimumRingSize or Maglev/Ringhash can be specified')
    }
    const maglev = field(ch, 'maglev')
    if (maglev !== undefined) {
      const size = num(maglev.tableSize) ?? 0
      const mp = child(child(p, 'maglev'), 'tableSize')
      if (size === 0) report.error(mp, required('tableSize must be set for maglev'))
      else if (size >= 5000011) report.error(mp, 'tableSize must be less than 5000011 for maglev')
      else if (!isPrime(size)) report.error(mp, 'tableSize must be a prime number for maglev')
    }
  }
  checkLocality(field(lb, 'localityLbSetting'), child(path, 'localityLbSetting'), report, hasOutlier)
  const warmup = field(lb, 'warmup')
  if (warmup !== undefined) {
    const p = child(path, 'warmup')
    if (!has(warmup, 'duration')) report.error(child(p, 'duration'), required())
    const minimum = num(warmup.minimumPercent)
    if (minimum !== undefined && (minimum < 0 || minimum > 100)) report.error(child(p, 'minimumPercent'), invalid(minimum, 'must be between 0 and 100'))
    const aggression = num(warmup.aggression)
    if (aggression !== undefined && aggression < 0) report.error(child(p, 'aggression'), invalid(aggression, 'must be greater than or equal to 0'))
  }
}

function checkLocality (lb: Obj | undefined, path: string, report: Report, hasOutlier: boolean): void {
  if (lb === undefined) return
  const distribute = list(lb.distribute)
  const failover = list(lb.failover)
  if (distribute.length > 0 && failover.length > 0) {
    report.error(path, "can not simultaneously specify 'distribute' and 'failover'")
    return
  }
  distribute.forEach((raw, i) => {
    const weights = entries(obj(raw)?.to, num)
    const p = child(item(child(path, 'distribute'), i), 'to')
    if (weights.some(([, w]) => w <= 0 || w > 100)) report.error(p, 'locality weight must be in range [1, 100]')
    else {
      const total = weights.reduce((s, [, w]) => s + w, 0)
      if (total !== 100) report.error(p, `total locality weight ${total} != 100`)
    }
  })
  if ((failover.length > 0 || list(lb.failoverPriority).length > 0) && !hasOutlier) {
    report.warn(path, 'outlier detection policy must be provided for failover')
  }
  failover.forEach((raw, i) => {
    const f = obj(raw)
    const from = str(f?.from) ?? ''
    const to = str(f?.to) ?? ''
    const p = item(child(path, 'failover'), i)
    if (from === to) report.error(p, 'locality lb failover settings must specify different regions')
    if (from.includes('/') || to.includes('/')) report.error(p, 'locality lb failover only specify region')
    if (from.includes('*') || to.includes('*')) report.error(p, "locality lb failover region should not contain '*' wildcard")
  })
}

function checkClientTLS (tls: Obj | undefined, path: string, report: Report): void {
  if (tls === undefined) return
  const mode = str(tls.mode)
  const set = (k: string): boolean => (str(tls[k]) ?? '') !== ''
  if (tls.insecureSkipVerify === true) {
    if (mode === 'SIMPLE' && (set('caCertificates') || set('credentialName') || has(tls, 'subjectAltNames'))) {
      report.error(path, 'cannot specify CaCertificates or CredentialName or SubjectAltNames when InsecureSkipVerify is set true')
    }
    if (mode === 'MUTUAL' && (set('caCertificates') || has(tls, 'subjectAltNames'))) {
      report.error(path, 'cannot specify CaCertificates or SubjectAltNames when InsecureSkipVerify is set true')
    }
  }
  if ((mode === 'SIMPLE' || mode === 'MUTUAL') && set('credentialName')) {
    if (set('clientCertificate') || set('caCertificates') || set('privateKey') || set('caCrl')) {
      report.error(path, 'cannot specify client certificates or CA certificate or CA CRL If credentialName is set')
    }
    return
  }
  if (mode === 'MUTUAL') {
    if (!set('clientCertificate')) report.error(child(path, 'clientCertificate'), required('client certificate required for mutual tls'))
    if (!set('privateKey')) report.error(child(path, 'privateKey'), required('private key required for mutual tls'))
  }
}

function checkTunnel (tunnel: Obj | undefined, path: string, report: Report): void {
  if (tunnel === undefined) return
  const protocol = str(tunnel.protocol) ?? ''
  if (protocol !== '' && protocol !== 'CONNECT' && protocol !== 'POST') report.error(child(path, 'protocol'), 'tunnel protocol must be "CONNECT" or "POST"')
  const target = str(tunnel.targetHost) ?? ''
  if (!isIPAddress(target)) {
    const err = checkFQDN(target)
    if (err !== undefined) report.error(child(path, 'targetHost'), `tunnel target host must be valid FQDN or IP address: ${err}`)
  }
  const err = checkPort(num(tunnel.targetPort) ?? 0)
  if (err !== undefined) report.error(child(path, 'targetPort'), `tunnel target port is invalid: ${err}`)
}
