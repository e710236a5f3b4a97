// ServiceEntry: hosts, addresses, ports, resolution and endpoints (CRD CEL rules, whose
// messages are kept verbatim, plus Istio's ValidateServiceEntry).
import { checkExportTo, checkSelectorLabels, field } from './common'
import { checkFQDN, checkIPSubnet, checkPartialWildcard, checkPort, checkWildcardDomain, isDNS1123Label, isHTTPProtocol, isTLSProtocol, parseProtocol } from './names'
import { child, item } from './path'
import { duplicate, invalid, required, type Report } from './report'
import { checkWorkloadEntry } from './workload-entry'
import { has, list, num, obj, str, type Obj } from './values'

export function checkServiceEntry (spec: Obj, report: Report, namespace: string | undefined): void {
  const resolution = str(spec.resolution) ?? 'NONE'
  const hosts = list(spec.hosts).map(str).filter((h): h is string => h !== undefined)
  const endpoints = list(spec.endpoints)
  const selector = field(spec, 'workloadSelector')

  if (list(spec.hosts).length === 0) report.error('spec.hosts', required('service entry must have at least one host'))
  list(spec.hosts).forEach((raw, i) => {
    const h = str(raw)
    if (h === undefined) return
    const p = item('spec.hosts', i)
    if (h === '*') {
      report.error(p, invalid(h, 'hostname cannot be wildcard'))
      return
    }
    const err = checkWildcardDomain(h)
    if (err !== undefined) report.error(p, err)
    const partial = checkPartialWildcard(h)
    if (partial !== undefined) report.warn(p, partial)
  })

  let cidr = false
  list(spec.addresses).forEach((raw, i) => {
    const a = str(raw)
    if (a === undefined) return
    cidr ||= a.includes('/')
    const err = checkIPSubnet(a)
    if (err !== undefined) report.error(item('spec.addresses', i), err)
  })
  // A CIDR can only be matched on the original destination address; DNS resolution has no use for it.
  if (cidr && resolution !== 'NONE' && resolution !== 'STATIC') {
    report.error('spec.addresses', 'CIDR addresses are allowed only for NONE/STATIC resolution types')
  }

  if (selector !== undefined) {
    checkSelectorLabels(selector.labels, 'spec.workloadSelector.labels', report, 'service entry: workload selector specified without labels, will be applied to all services in namespace')
    if (has(spec, 'endpoints')) report.error('spec.endpoints', 'only one of WorkloadSelector or Endpoints can be set')
  }

  const servicePorts = checkPorts(spec, report, resolution)

  switch (resolution) {
    case 'NONE':
      // NONE forwards to the original destination, so listed endpoints would never be used.
      if (has(spec, 'endpoints')) report.error('spec.endpoints', 'NONE mode cannot set endpoints')
      if (selector !== undefined) report.warn('spec.workloadSelector', 'workloadSelector should not be set when resolution mode is NONE')
      break
    case 'STATIC':
      endpoints.forEach((raw, i) => checkEndpoint(raw, item('spec.endpoints', i), report, servicePorts, false))
      break
    case 'DNS':
    case 'DNS_ROUND_ROBIN':
      if (endpoints.length === 0) {
        hosts.forEach((h, i) => {
          if (checkFQDN(h) !== undefined) report.error(item('spec.hosts', i), `hosts must be FQDN if no endpoints are provided for resolution mode ${resolution}`)
        })
      }
      if (resolution === 'DNS_ROUND_ROBIN' && endpoints.length > 1) {
        report.error('spec.endpoints', 'DNS_ROUND_ROBIN mode cannot have multiple endpoints')
      }
      endpoints.forEach((raw, i) => checkEndpoint(raw, item('spec.endpoints', i), report, servicePorts, true))
      if (selector !== undefined) report.warn('spec.workloadSelector', `workloadSelector should not be set when resolution mode is ${resolution}`)
      break
    default:
      report.error('spec.resolution', `unsupported resolution type ${resolution}`)
  }

  // Plain TCP carries no host name, so several hosts on one TCP port cannot be told apart
  // (unless resolution is NONE, where hosts are not used to route).
  if (resolution !== 'NONE' && hosts.length > 1) {
    const ports = list(spec.ports)
    const i = ports.findIndex(raw => {
      const p = parseProtocol(str(obj(raw)?.protocol) ?? '')
      return !isHTTPProtocol(p) && !isTLSProtocol(p)
    })
    if (i >= 0) report.error(item('spec.ports', i), 'multiple hosts provided with non-HTTP, non-TLS ports')
  }
  checkExportTo(spec.exportTo, 'spec.exportTo', report, namespace, true)
}

function checkEndpoint (raw: unknown, path: string, report: Report, servicePorts: ReadonlySet<string>, allowHostnames: boolean): void {
  const ep = obj(raw)
  if (ep === undefined) report.error(path, 'endpoint cannot be nil')
  else checkWorkloadEntry(ep, path, report, { servicePorts, allowHostnames })
}

/** Returns the declared port names, for checking endpoint ports against them. */
function checkPorts (spec: Obj, report: Report, resolution: string): Set<string> {
  const names = new Set<string>()
  const numbers = new Set<number>()
  list(spec.ports).forEach((raw, i) => {
    const p = item('spec.ports', i)
    const port = obj(raw)
    if (port === undefined) {
      report.error(p, 'service entry port may not be null')
      return
    }
    const name = str(port.name)
    if (name === undefined) report.error(child(p, 'name'), required())
    else {
      // Port names key the list (listType=map), so a repeated name is a duplicate entry.
      if (names.has(name)) report.error(child(p, 'name'), `${duplicate(name)}: service entry port name "${name}" already defined`)
      names.add(name)
      if (!isDNS1123Label(name)) report.error(child(p, 'name'), `invalid port name: ${name}`)
    }
    const number = num(port.number)
    if (number === undefined) {
      if (!has(port, 'number')) report.error(child(p, 'number'), required())
    } else {
      if (numbers.has(number)) report.error(child(p, 'number'), invalid(number, 'port number cannot be duplicated'))
      numbers.add(number)
      if (checkPort(number) !== undefined) report.error(child(p, 'number'), invalid(number, 'port must be between 1-65535'))
    }
    const target = num(port.targetPort)
    if (target !== undefined) {
      if (checkPort(target) !== undefined) report.error(child(p, 'targetPort'), invalid(target, 'port must be between 1-65535'))
      else if (resolution === 'NONE') report.warn(child(p, 'targetPort'), 'targetPort has no effect when resolution mode is NONE')
    }
    const protocol = str(port.protocol)
    if (protocol !== undefined && protocol !== '' && parseProtocol(protocol) === undefined) {
      report.error(child(p, 'protocol'), `unsupported protocol: ${protocol}`)
    }
  })
  return names
}
