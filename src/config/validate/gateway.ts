// Gateway: servers, their ports, hosts and TLS settings (Istio's ValidateGateway).
import { checkPartialWildcard, checkPort, checkUnixAddress, checkWildcardDomain, isDNS1123Label, isHTTPProtocol, isIPAddress, isTLSProtocol, parseProtocol, UNIX_PREFIX } from './names'
import { child, item } from './path'
import { invalid, required, type Report } from './report'
import { has, list, num, obj, str, type Obj } from './values'

export function checkGateway (spec: Obj, report: Report, name: string | undefined): void {
  // Gateway names become part of Envoy listener/route names and `ns/name` references.
  if (name !== undefined && !isDNS1123Label(name)) report.error('metadata.name', `invalid gateway name: "${name}"`)
  const servers = list(spec.servers)
  if (servers.length === 0) report.error('spec.servers', required('gateway must have at least one server'))
  const portNames = new Map<string, number>()
  servers.forEach((raw, i) => {
    const p = item('spec.servers', i)
    const server = obj(raw)
    if (server === undefined) {
      report.error(p, 'server may not be nil')
      return
    }
    checkServer(server, p, report)
    const port = obj(server.port)
    const portName = str(port?.name)
    if (portName !== undefined) {
      if (portNames.has(portName)) report.error(child(child(p, 'port'), 'name'), `port names in servers must be unique: duplicate name ${portName}`)
      portNames.set(portName, i)
    }
    const protocol = parseProtocol(str(port?.protocol) ?? '')
    if (obj(server.tls)?.httpsRedirect === true && !isHTTPProtocol(protocol)) {
      report.warn(child(child(p, 'tls'), 'httpsRedirect'), 'tls.httpsRedirect should only be used with http servers')
    }
  })
}

function checkServer (server: Obj, path: string, report: Report): void {
  const hosts = list(server.hosts)
  if (hosts.length === 0) report.error(child(path, 'hosts'), required('server config must contain at least one host'))
  hosts.forEach((raw, i) => {
    const h = str(raw)
    if (h !== undefined) {
      for (const err of checkGatewayHost(h)) report.error(item(child(path, 'hosts'), i), err)
    }
  })
  const bind = str(server.bind) ?? ''
  const portOk = checkServerPort(obj(server.port), bind, child(path, 'port'), report)
  if (bind.startsWith(UNIX_PREFIX)) {
    const err = checkUnixAddress(bind.slice(UNIX_PREFIX.length))
    if (err !== undefined) report.error(child(path, 'bind'), err)
    const n = num(obj(server.port)?.number)
    if (n !== undefined && n !== 0) report.error(child(child(path, 'port'), 'number'), 'port number must be 0 for unix domain socket')
  } else if (bind !== '' && !isIPAddress(bind)) {
    report.error(child(path, 'bind'), `${bind} is not a valid IP`)
  }
  const tls = obj(server.tls)
  if (tls !== undefined) checkServerTLS(tls, child(path, 'tls'), report)
  if (!portOk) return
  const protocol = parseProtocol(str(obj(server.port)?.protocol) ?? '')
  if (isTLSProtocol(protocol) && tls === undefined) {
    report.error(child(path, 'tls'), required('server must have TLS settings for HTTPS/TLS protocols'))
  } else if (!isTLSProtocol(protocol) && tls !== undefined) {
    if (isHTTPProtocol(protocol)) {
      // A plain HTTP server may carry `tls.httpsRedirect` and nothing that needs certificates.
      const mode = str(tls.mode)
      const passthrough = mode === undefined || mode === 'PASSTHROUGH'
      if (!passthrough || has(tls, 'caCertificates') || has(tls, 'privateKey') || has(tls, 'serverCertificate')) {
        report.error(child(path, 'tls'), 'server cannot have TLS settings for plain text HTTP ports')
      }
    } else {
      report.error(child(path, 'tls'), 'server cannot have TLS settings for non HTTPS/TLS ports')
    }
  }
}

/** Returns whether the port is usable enough to reason about its protocol. */
function checkServerPort (port: Obj | undefined, bind: string, path: string, report: Report): boolean {
  if (port === undefined) {
    report.error(path, required('port is required'))
    return false
  }
  let ok = true
  const protocol = str(port.protocol)
  if (protocol === undefined || parseProtocol(protocol) === undefined) {
    report.error(child(path, 'protocol'), invalid(protocol ?? '', 'invalid protocol, supported protocols are HTTP, HTTP2, GRPC, GRPC-WEB, MONGO, REDIS, MYSQL, TCP'))
    ok = false
  }
  const n = num(port.number) ?? 0
  if (n > 0 || !bind.startsWith(UNIX_PREFIX)) {
    const err = checkPort(n)
    if (err !== undefined) {
      report.error(child(path, 'number'), err)
      ok = false
    }
  }
  if ((num(port.targetPort) ?? 0) > 0) report.error(child(path, 'targetPort'), 'targetPort has no impact on Gateways')
  if ((str(port.name) ?? '') === '') {
    report.error(child(path, 'name'), required('port name must be set'))
    ok = false
  }
  return ok
}

// Gateway hosts: `host`, `ns/host`, `./host`, or any namespace (`*` before the slash); an IP is
// allowed; short names are not.
function checkGatewayHost (host: string): string[] {
  const errs: string[] = []
  const slash = host.indexOf('/')
  let dnsName = host
  if (slash >= 0) {
    const ns = host.slice(0, slash)
    dnsName = host.slice(slash + 1)
    if (ns === '' || dnsName === '') errs.push('config namespace and dnsName in host entry cannot be empty')
    if (ns !== '*' && ns !== '.' && !isDNS1123Label(ns)) errs.push(`invalid namespace value "${ns}" in gateway`)
  }
  if (dnsName !== '*' && !dnsName.includes('.')) errs.push('short names (non FQDN) are not allowed')
  const err = checkWildcardDomain(dnsName)
  if (err !== undefined && !isIPAddress(dnsName)) errs.push(err)
  const partial = checkPartialWildcard(dnsName)
  if (partial !== undefined) errs.push(partial)
  return errs
}

function checkServerTLS (tls: Obj, path: string, report: Report): void {
  const count = ['credentialName', 'credentialNames', 'tlsCertificates'].filter(k => has(tls, k)).length
  if (count > 1) report.error(path, 'only one of credentialName, credentialNames or tlsCertificates can be set')
  const mode = str(tls.mode)
  const set = (k: string): boolean => (str(tls[k]) ?? '') !== ''
  const min = str(tls.minProtocolVersion)
  if ((min === 'TLSV1_0' || min === 'TLSV1_1') && list(tls.cipherSuites).length === 0) {
    report.warn(child(path, 'minProtocolVersion'), 'TLS version below TLSV1_2 require setting compatible ciphers as by default they no longer include compatible ciphers.')
  }
  if (mode === 'ISTIO_MUTUAL') {
    // The certificates come from the mesh CA; anything configured here would be ignored.
    if (set('serverCertificate')) report.error(child(path, 'serverCertificate'), 'ISTIO_MUTUAL TLS cannot have associated server certificate')
    if (set('privateKey')) report.error(child(path, 'privateKey'), 'ISTIO_MUTUAL TLS cannot have associated private key')
    if (set('caCertificates')) report.error(child(path, 'caCertificates'), 'ISTIO_MUTUAL TLS cannot have associated CA bundle')
    if (set('credentialName')) report.error(child(path, 'credentialName'), 'ISTIO_MUTUAL TLS cannot have associated credentialName')
    return
  }
  if ((mode === 'PASSTHROUGH' || mode === 'AUTO_PASSTHROUGH') &&
    ['caCrl', 'serverCertificate', 'privateKey', 'caCertificates', 'credentialName'].some(set)) {
    report.warn(path, `${mode} mode does not use certificates, they will be ignored`)
  }
  const fromCredential = set('credentialName') || list(tls.credentialNames).length > 0 || list(tls.tlsCertificates).length > 0
  const terminates = mode === 'SIMPLE' || mode === 'MUTUAL' || mode === 'OPTIONAL_MUTUAL'
  if (terminates && fromCredential) return // certificates are fetched by name (SDS)
  if (mode === 'SIMPLE') {
    if (!set('serverCertificate')) report.error(child(path, 'serverCertificate'), required('SIMPLE TLS requires a server certificate'))
    if (!set('privateKey')) report.error(child(path, 'privateKey'), required('SIMPLE TLS requires a private key'))
    if (set('caCrl')) report.error(child(path, 'caCrl'), 'CRL is not supported with SIMPLE TLS')
  } else if (mode === 'MUTUAL' || mode === 'OPTIONAL_MUTUAL') {
    if (!set('serverCertificate')) report.error(child(path, 'serverCertificate'), required('MUTUAL TLS requires a server certificate'))
    if (!set('privateKey')) report.error(child(path, 'privateKey'), required('MUTUAL TLS requires a private key'))
    if (!set('caCertificates')) report.error(child(path, 'caCertificates'), required('MUTUAL TLS requires a client CA bundle'))
  }
}
