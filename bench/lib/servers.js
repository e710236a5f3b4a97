'use strict'
// Starting the upstream and each proxy under test. Each start function returns a Target:
//   { name, label, url, host, groups: [{ label, rootPid }], stop() }
// `url` and `host` are what the load generator sends; `groups` are the processes (with their
// descendants) whose CPU and memory are charged to the proxy.

const fs = require('node:fs')
const path = require('node:path')
const os = require('node:os')
const proc = require('./proc')
const configs = require('./configs')

const REPO = path.join(__dirname, '..', '..')

/**
 * The Ferry build under test: this checkout by default, or another directory with bin/ and dist/
 * (`--ferry DIR`, e.g. a clean build of one commit while the working tree is being edited).
 */
let ferryBin = path.join(REPO, 'bin', 'ferry.js')

function setFerryDir (dir) {
  ferryBin = path.join(dir, 'bin', 'ferry.js')
  if (!fs.existsSync(path.join(dir, 'dist', 'cli', 'main.js'))) throw new Error(`${dir}/dist is missing: build it with npx tsc -p .`)
}

/** nginx drops worker privileges to `nobody` when started as root; keep root so it can use the temp dir. */
function nginxUser () {
  return typeof process.getuid === 'function' && process.getuid() === 0 ? 'root' : null
}

async function startNginx (name, cores, dir, confText, port) {
  const conf = path.join(dir, `${name}.conf`)
  fs.writeFileSync(conf, confText)
  // -e: error log before the config is read; -p: prefix; daemon off: a child we can stop.
  const child = proc.startProcess(name, cores, 'nginx', ['-e', path.join(dir, `${name}.error.log`), '-p', dir, '-c', conf, '-g', 'daemon off;'],
    { logFile: path.join(dir, `${name}.log`) })
  await proc.waitForHttp(child, port, '/')
  return child
}

/**
 * The upstream: `fortio server` when fortio is installed (its /echo answers `size` bytes), else
 * nginx returning 1 KB, else a small Node server.
 */
async function startUpstream ({ tools, cores, dir }) {
  const port = await proc.freePort()
  if (tools.fortio) {
    const child = proc.startProcess('fortio-server', cores, 'fortio',
      ['server', '-http-port', `127.0.0.1:${port}`, '-grpc-port', 'disabled', '-redirect-port', 'disabled', '-loglevel', 'Warning'],
      { logFile: path.join(dir, 'fortio-server.log') })
    await proc.waitForHttp(child, port, '/echo')
    return { kind: 'fortio server', port, path: `/echo?size=${configs.PAYLOAD_BYTES}`, child }
  }
  if (tools.nginx) {
    const child = await startNginx('nginx-upstream', cores, dir, configs.nginxUpstreamConf(dir, port, nginxUser()), port)
    return { kind: 'nginx (return 200, 1 KB)', port, path: '/', child }
  }
  const child = proc.startProcess('node-upstream', cores, process.execPath, [path.join(__dirname, 'node-upstream.js'), String(port)],
    { logFile: path.join(dir, 'node-upstream.log') })
  await proc.waitForHttp(child, port, '/')
  return { kind: 'node http (1 KB)', port, path: '/', child }
}

function directTarget (upstream) {
  return {
    name: 'direct',
    label: 'direct (no proxy)',
    url: `http://127.0.0.1:${upstream.port}${upstream.path}`,
    host: null,
    groups: [],
    stop: async () => {}
  }
}

/** The Node flags on bin/ferry.js's first line (`#!/usr/bin/env -S node FLAGS`): Ferry runs with them, as the image does. */
function ferryNodeFlags () {
  const first = fs.readFileSync(ferryBin, 'utf8').split('\n', 1)[0]
  const m = /^#!\/usr\/bin\/env -S node(.*)$/.exec(first)
  return m ? m[1].trim().split(/\s+/).filter(Boolean) : []
}

/** Ferry's common flags: admin on a free port, stats always on, tracing to the collector. */
async function ferryProcess (name, cores, dir, role, yaml, extra, collector, nodeArgs = []) {
  const cfgDir = path.join(dir, `${name}-config`)
  fs.mkdirSync(cfgDir, { recursive: true })
  fs.writeFileSync(path.join(cfgDir, 'bench.yaml'), yaml)
  const adminPort = await proc.freePort()
  const args = [
    ...ferryNodeFlags(),
    ...nodeArgs,
    ferryBin, 'run', '--role', role, '--config', cfgDir, '--namespace', 'bench',
    '--admin', `127.0.0.1:${adminPort}`, '--log-level', 'warn', '--drain-duration', '1s',
    '--sampling', '1', '--zipkin', collector.url,
    // One worker per Ferry: the proxy gets a single pinned core here, and the sidecar role's
    // default of 2 workers would put four workers and two primaries on it for the sidecar pair.
    '--concurrency', '1', ...extra
  ]
  const child = proc.startProcess(name, cores, process.execPath, args, { logFile: path.join(dir, `${name}.log`) })
  await proc.waitForHttp(child, adminPort, '/ready')
  return { child, adminPort }
}

/**
 * Ferry in gateway role on its own core: stats on, 1% tracing to the bench's collector.
 * `nodeArgs` go before bin/ferry.js (bench/profile.js passes --cpu-prof).
 */
async function startFerryGateway ({ cores, dir, upstream, collector, nodeArgs, extraArgs = [], name = 'ferry-gateway' }) {
  const port = await proc.freePort()
  // `extraArgs` come last, so they override the common flags (e.g. --sampling 100).
  const { child } = await ferryProcess(name, cores, dir, 'gateway',
    configs.ferryGatewayYaml(port, upstream.port),
    ['--gateway-address', '127.0.0.1', '--labels', 'istio=ingressgateway', ...extraArgs], collector, nodeArgs)
  await proc.waitForHttp(child, port, upstream.path)
  return {
    name: 'ferry',
    label: 'Ferry (gateway)',
    url: `http://127.0.0.1:${port}${upstream.path}`,
    host: null,
    groups: [{ label: 'ferry', rootPid: child.pid }],
    stop: () => proc.stopProcess(child)
  }
}

/**
 * Two sidecar-role Ferry processes in series (see configs.ferrySidecarYaml for why hop 2 is
 * an outbound-style listener). The client sends `Host: upstream.bench.svc.cluster.local:9080`
 * to hop 1's outbound port, as an app whose traffic iptables captured would.
 */
async function startFerrySidecars ({ cores, coresHop2, dir, upstream, collector, nodeArgs }) {
  const sidecarFlags = async (outboundPort) => ['--sidecar-address', '127.0.0.1', '--outbound-port', String(outboundPort),
    '--inbound-port', String(await proc.freePort()), '--health-port', '-1', '--prometheus-port', '-1']
  const hop2Port = await proc.freePort()
  const hop2 = await ferryProcess('ferry-sidecar-hop2', coresHop2, dir, 'sidecar', configs.ferrySidecarYaml(upstream.port),
    await sidecarFlags(hop2Port), collector, nodeArgs)
  const hop1Port = await proc.freePort()
  let hop1
  try {
    hop1 = await ferryProcess('ferry-sidecar-hop1', cores, dir, 'sidecar', configs.ferrySidecarYaml(hop2Port),
      await sidecarFlags(hop1Port), collector, nodeArgs)
  } catch (err) {
    await proc.stopProcess(hop2.child)
    throw err
  }
  const host = `${configs.MESH_HOST}:${configs.MESH_PORT}`
  await proc.waitForHttp(hop1.child, hop1Port, upstream.path, { headers: { host } })
  return {
    name: 'ferry-sidecar',
    label: 'Ferry sidecar → sidecar',
    url: `http://127.0.0.1:${hop1Port}${upstream.path}`,
    host,
    groups: [{ label: 'hop1', rootPid: hop1.child.pid }, { label: 'hop2', rootPid: hop2.child.pid }],
    stop: () => Promise.all([proc.stopProcess(hop1.child), proc.stopProcess(hop2.child)])
  }
}

async function startNginxProxy ({ cores, dir, upstream }) {
  const port = await proc.freePort()
  const child = await startNginx('nginx-proxy', cores, dir, configs.nginxProxyConf(dir, port, upstream.port, nginxUser()), port)
  return {
    name: 'nginx',
    label: 'nginx (proxy, keepalive)',
    url: `http://127.0.0.1:${port}${upstream.path}`,
    host: null,
    // Master and worker: the worker does the proxying, the master is charged too (it is idle).
    groups: [{ label: 'nginx', rootPid: child.pid }],
    stop: () => proc.stopProcess(child)
  }
}

async function startHttpProxyPeer ({ cores, dir, upstream }) {
  const port = await proc.freePort()
  const child = proc.startProcess('http-proxy', cores, process.execPath,
    [path.join(__dirname, 'http-proxy-peer.js'), String(port), String(upstream.port)],
    { logFile: path.join(dir, 'http-proxy.log') })
  await proc.waitForHttp(child, port, upstream.path)
  return {
    name: 'http-proxy',
    label: 'node-http-proxy',
    url: `http://127.0.0.1:${port}${upstream.path}`,
    host: null,
    groups: [{ label: 'http-proxy', rootPid: child.pid }],
    stop: () => proc.stopProcess(child)
  }
}

function tempDir () {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'ferry-bench-'))
}

module.exports = { setFerryDir, startUpstream, directTarget, startFerryGateway, startFerrySidecars, startNginxProxy, startHttpProxyPeer, tempDir }
