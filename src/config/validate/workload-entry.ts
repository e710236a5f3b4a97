// WorkloadEntry, standalone or as a ServiceEntry endpoint: address forms (IP, host name, Unix
// socket), named ports and labels. CRD rule messages are kept verbatim ("UDS may not be a dir").
import { checkLabels } from './common'
import { checkFQDN, checkUnixAddress, isDNS1123Label, isIPAddress, UNIX_PREFIX } from './names'
import { child } from './path'
import { invalid, required, type Report } from './report'
import { has, num, obj, str, type Obj } from './values'

export interface EndpointContext {
  /** Ports of the owning ServiceEntry, by name; endpoint ports must name one of them. */
  servicePorts?: ReadonlySet<string>
  /** STATIC ServiceEntry endpoints must be IPs (or sockets); DNS ones and WorkloadEntries may be host names. */
  allowHostnames: boolean
}

export function checkWorkloadEntry (we: Obj, path: string, report: Report, ctx: EndpointContext): void {
  const address = str(we.address) ?? ''
  const addressPath = child(path, 'address')
  if (address === '') {
    // A workload on another network may be reached through that network's gateway instead.
    if ((str(we.network) ?? '') === '') report.error(addressPath, required('Address is required'))
    else report.warn(addressPath, `address is unset with network "${str(we.network) ?? ''}"`)
  } else if (address.startsWith(UNIX_PREFIX)) {
    const socket = address.slice(UNIX_PREFIX.length)
    if (!socket.startsWith('/') && !socket.startsWith('@')) {
      report.error(addressPath, invalid(address, 'UDS must be an absolute path or abstract socket'))
    } else if (address.endsWith('/')) {
      report.error(addressPath, invalid(address, 'UDS may not be a dir'))
    } else {
      const err = checkUnixAddress(socket)
      if (err !== undefined) report.error(addressPath, err)
    }
    if (has(we, 'ports')) report.error(child(path, 'ports'), invalid(we.ports, 'UDS may not include ports'))
    if (ctx.servicePorts !== undefined && ctx.servicePorts.size !== 1) {
      report.error(addressPath, 'exactly 1 service port required for unix endpoints')
    }
  } else if (!isIPAddress(address)) {
    if (!ctx.allowHostnames) report.error(addressPath, `endpoint address "${address}" is not a valid IP address`)
    else if (checkFQDN(address) !== undefined) report.error(addressPath, `endpoint address "${address}" is not a valid FQDN or an IP address`)
  }
  for (const [name, raw] of Object.entries(obj(we.ports) ?? {})) {
    const p = child(child(path, 'ports'), name)
    // The CRD allows names up to 62 characters; Istio's webhook wants DNS-1123 labels.
    if (name.length >= 63 || !isDNS1123Label(name)) report.error(p, invalid(name, 'port name must be valid'))
    else if (ctx.servicePorts !== undefined && !ctx.servicePorts.has(name)) {
      report.error(p, `endpoint port ${String(raw)} is not defined by the service entry`)
    }
    const port = num(raw)
    if (port !== undefined && (port < 1 || port > 65535)) report.error(p, invalid(port, 'port must be between 1-65535'))
  }
  checkLabels(we.labels, child(path, 'labels'), report)
}
