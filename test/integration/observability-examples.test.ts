// examples/observability and docker/compose.yaml cannot be run here (no Docker engine), so this
// checks what can go wrong without one: every file the compose file mounts or builds from exists,
// the configs parse, the ports and URLs agree with each other, Ferry accepts the demo config, and
// the Grafana dashboard queries only metric names a live Ferry exports.

import t from 'tap'
import fs from 'node:fs'
import { join, resolve } from 'node:path'
import YAML from 'yaml'
import { startUpstream, startFerry, request, admin, serviceEntry, GATEWAY } from '../helpers/harness'
import { loadConfig } from '../../src/config/load'
import { startCollector } from './observability-helpers'

const ROOT = resolve(__dirname, '../..')
const DOCKER = join(ROOT, 'docker')
const EXAMPLES = join(ROOT, 'examples/observability')

interface ComposeService {
  build?: { context: string, dockerfile: string }
  image?: string
  command?: string[] | string
  volumes?: string[]
  ports?: string[]
  environment?: Record<string, string>
  depends_on?: string[]
}

const compose = YAML.parse(fs.readFileSync(join(DOCKER, 'compose.yaml'), 'utf8')) as { services: Record<string, ComposeService> }
const services = compose.services

/** The value of `--name=value` in a command list. */
function flag (cmd: ComposeService['command'], name: string): string | undefined {
  const list = Array.isArray(cmd) ? cmd : []
  const hit = list.find(a => a.startsWith(`--${name}=`))
  return hit?.slice(name.length + 3)
}

t.test('docker/compose.yaml: services, build, mounts, wiring', async t => {
  t.same(Object.keys(services).sort(), ['ferry', 'grafana', 'httpbin', 'jaeger', 'load', 'prometheus'])
  for (const [name, s] of Object.entries(services)) {
    t.ok(s.image !== undefined || s.build !== undefined, `${name} has an image or a build`)
    for (const dep of s.depends_on ?? []) t.ok(dep in services, `${name} depends on a defined service ${dep}`)
    for (const v of s.volumes ?? []) {
      const host = v.split(':')[0]
      t.ok(fs.existsSync(resolve(DOCKER, host)), `${name}: mounted ${host} exists`)
    }
  }
  const ferry = services.ferry
  const build = ferry.build as { context: string, dockerfile: string }
  t.ok(fs.existsSync(join(resolve(DOCKER, build.context), build.dockerfile)), 'the Dockerfile exists relative to the build context')
  t.equal(flag(ferry.command, 'role'), 'gateway')
  t.equal(flag(ferry.command, 'zipkin'), 'http://jaeger:9411/api/v2/spans', 'traces go to Jaeger\'s Zipkin v2 endpoint')
  t.equal(services.jaeger.environment?.COLLECTOR_ZIPKIN_HOST_PORT, ':9411', 'Jaeger\'s Zipkin collector is on')
  t.ok(services.jaeger.ports?.includes('9411:9411'))

  // The gateway port published is the one the demo Gateway listens on.
  const configMount = (ferry.volumes ?? []).find(v => v.split(':')[1] === flag(ferry.command, 'config')) as string
  t.ok(configMount, '--config is the mounted directory')
  const configDir = resolve(DOCKER, configMount.split(':')[0])
  const loaded = loadConfig([configDir], { namespace: flag(ferry.command, 'namespace') ?? 'default' })
  t.same(loaded.diagnostics.filter(d => d.severity === 'error'), [], 'Ferry accepts the demo config (what `ferry validate` checks)')
  t.equal(loaded.config.gateways.length, 1)
  const gatewayPort = String(loaded.config.gateways[0].spec.servers?.[0].port?.number)
  t.ok(ferry.ports?.includes(`${gatewayPort}:${gatewayPort}`), `the Gateway's port ${gatewayPort} is published`)
  const labels = flag(ferry.command, 'labels') ?? ''
  const selector = loaded.config.gateways[0].spec.selector ?? {}
  for (const [k, v] of Object.entries(selector)) t.ok(labels.split(',').includes(`${k}=${v}`), `--labels satisfy the Gateway selector ${k}=${v}`)

  // Prometheus scrapes the admin port Ferry binds on all interfaces.
  const adminPort = (flag(ferry.command, 'admin') ?? '').split(':')[1]
  t.equal(flag(ferry.command, 'admin'), `0.0.0.0:${adminPort}`)
  const promMount = (services.prometheus.volumes ?? [])[0].split(':')
  const prom = YAML.parse(fs.readFileSync(resolve(DOCKER, promMount[0]), 'utf8')) as { scrape_configs: Array<{ job_name: string, metrics_path: string, static_configs: Array<{ targets: string[] }> }> }
  t.equal(promMount[1], (services.prometheus.command as string[]).find(a => a.startsWith('--config.file='))?.slice('--config.file='.length))
  const gatewayJob = prom.scrape_configs.find(j => j.job_name === 'ferry-gateway')
  t.equal(gatewayJob?.metrics_path, '/stats/prometheus')
  t.same(gatewayJob?.static_configs[0].targets, [`ferry:${adminPort}`])
  for (const job of prom.scrape_configs) t.equal(job.metrics_path, '/stats/prometheus', `${job.job_name} scrapes /stats/prometheus`)
  const k8s = YAML.parse(fs.readFileSync(join(EXAMPLES, 'prometheus/prometheus-kubernetes.yml'), 'utf8')) as { scrape_configs: unknown[] }
  t.equal(k8s.scrape_configs.length, 1)

  // Grafana: the provisioned dashboards directory is where the dashboard JSON is mounted.
  const gv = services.grafana.volumes ?? []
  const provisioning = resolve(DOCKER, (gv.find(v => v.includes('/etc/grafana/provisioning')) as string).split(':')[0])
  const provider = YAML.parse(fs.readFileSync(join(provisioning, 'dashboards/ferry.yaml'), 'utf8')) as { providers: Array<{ options: { path: string } }> }
  const dashMount = (gv.find(v => v.split(':')[1] === provider.providers[0].options.path) as string | undefined)
  t.ok(dashMount, 'the dashboard provider path is a mounted directory')
  t.ok(fs.existsSync(join(resolve(DOCKER, (dashMount ?? '').split(':')[0]), 'ferry.json')))
  const ds = YAML.parse(fs.readFileSync(join(provisioning, 'datasources/prometheus.yaml'), 'utf8')) as { datasources: Array<{ uid: string, url: string }> }
  t.equal(ds.datasources.find(d => d.uid === 'prometheus')?.url, 'http://prometheus:9090')
})

t.test('the Grafana dashboard queries only metrics Ferry exports', async t => {
  const dashboard = JSON.parse(fs.readFileSync(join(EXAMPLES, 'grafana/dashboards/ferry.json'), 'utf8')) as {
    panels: Array<{ type: string, datasource?: { uid: string }, targets?: Array<{ expr: string }> }>
    templating: { list: Array<{ definition?: string }> }
  }
  const exprs = [
    ...dashboard.panels.flatMap(p => (p.targets ?? []).map(q => q.expr)),
    ...dashboard.templating.list.map(v => v.definition ?? '')
  ]
  const used = new Set(exprs.flatMap(e => [...e.matchAll(/\b((?:envoy|istio)_[a-z0-9_]+)/g)].map(m => m[1])))
  t.ok(used.has('istio_requests_total') && used.has('istio_request_duration_milliseconds_bucket') && used.has('envoy_cluster_upstream_rq'), 'the essentials are queried')
  t.ok(dashboard.panels.filter(p => p.type !== 'row').every(p => p.datasource?.uid === 'prometheus'), 'every panel uses the provisioned datasource')

  // A live Ferry with a collector, after traffic that creates the per-code series.
  const up = await startUpstream()
  t.teardown(() => up.close())
  const zipkin = await startCollector()
  t.teardown(() => zipkin.close())
  const vs = `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: dash}
spec:
  hosts: ["*"]
  gateways: [gw]
  http:
  - route: [{destination: {host: echo.test}}]
`
  const f = await startFerry(GATEWAY + serviceEntry('echo.test', 80, [{ port: up.port }]) + vs, {}, { zipkin: zipkin.url, samplingPercent: 100 })
  t.teardown(() => f.stop())
  t.equal((await request(f.port, '/')).status, 200)
  const exposition = (await admin(f, '/stats/prometheus')).body
  const exported = new Set<string>()
  for (const line of exposition.split('\n')) {
    const m = /^(?:# TYPE )?([a-zA-Z_:][a-zA-Z0-9_:]*)/.exec(line)
    if (m !== null && !line.startsWith('# HELP')) exported.add(m[1])
  }
  const missing = [...used].filter(n => !exported.has(n))
  t.same(missing, [], `all ${used.size} metric names the dashboard uses are in /stats/prometheus`)
})

t.test('examples/observability/README.md names every file it describes', async t => {
  const readme = fs.readFileSync(join(EXAMPLES, 'README.md'), 'utf8')
  for (const f of ['prometheus/prometheus.yml', 'prometheus/prometheus-kubernetes.yml', 'grafana/dashboards/ferry.json', 'ferry/demo.yaml', 'docker/compose.yaml']) {
    t.ok(readme.includes(f), `README mentions ${f}`)
  }
  t.ok(readme.includes('--zipkin http://jaeger:9411/api/v2/spans'), 'how to point Ferry at Jaeger')
})
