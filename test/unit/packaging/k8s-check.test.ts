// The manifest checker must fail on what the API server or the kubelet would refuse; a checker
// that passes everything would make manifests.test.ts worthless. Each case breaks one thing in a
// valid set of objects and names the problem it must report.

import t from 'tap'
import { checkObject, checkSet, expandEnv, formatProblem, portNameProblem, qualifiedKeyProblem, type K8sObject } from './k8s-check'
import { dockerignore, parseDockerfile, aptInstalls, copies, workdir } from './dockerfile'

type Obj = Record<string, any> // eslint-disable-line @typescript-eslint/no-explicit-any

function valid (): Obj[] {
  return [
    { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'app' } },
    { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'cfg' }, data: { 'a.yaml': 'x: 1\n' } },
    {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: 'app' },
      spec: { selector: { app: 'app' }, ports: [{ name: 'http', port: 80, targetPort: 8080 }] }
    },
    {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'app' },
      spec: {
        replicas: 1,
        selector: { matchLabels: { app: 'app' } },
        template: {
          metadata: { labels: { app: 'app', version: 'v1' } },
          spec: {
            serviceAccountName: 'app',
            containers: [{
              name: 'app',
              image: 'app:1',
              ports: [{ name: 'http', containerPort: 8080 }],
              env: [
                { name: 'A', valueFrom: { fieldRef: { fieldPath: "metadata.labels['version']" } } },
                { name: 'B', value: 'v=$(A)' }
              ],
              readinessProbe: { httpGet: { path: '/ready', port: 8080 } },
              securityContext: { runAsUser: 1000, runAsNonRoot: true, capabilities: { drop: ['ALL'] } },
              resources: { requests: { cpu: '100m', memory: '64Mi' }, limits: { cpu: '1', memory: '128Mi' } },
              volumeMounts: [{ name: 'cfg', mountPath: '/etc/cfg', readOnly: true }]
            }],
            volumes: [{ name: 'cfg', configMap: { name: 'cfg' } }]
          }
        }
      }
    }
  ]
}

function problems (objs: Obj[]): string[] {
  const set: K8sObject[] = objs.map((obj, i) => ({ where: `#${i}`, obj }))
  const structural = set.flatMap(checkObject)
  return [...structural, ...(structural.length === 0 ? checkSet(set) : [])].map(formatProblem)
}

const dep = (objs: Obj[]): Obj => objs[3]
const pod = (objs: Obj[]): Obj => objs[3].spec.template.spec
const app = (objs: Obj[]): Obj => objs[3].spec.template.spec.containers[0]

t.test('the valid set passes', async t => {
  t.same(problems(valid()), [])
})

const cases: Array<[string, (o: Obj[]) => void, RegExp]> = [
  ['unknown field', o => { app(o).imagePullPolicyy = 'Always' }, /imagePullPolicyy: unknown field/],
  ['missing required image', o => { delete app(o).image }, /containers\[0\]\.image: required field is missing/],
  ['number where a string is required (args)', o => { app(o).args = ['-p', 15001] }, /args\[1\]: must be a string/],
  ['port out of range', o => { app(o).ports[0].containerPort = 70000 }, /containerPort: must be <= 65535/],
  ['port as a string', o => { app(o).ports[0].containerPort = '8080' }, /containerPort: must be an integer/],
  ['bad enum', o => { app(o).imagePullPolicy = 'Sometimes' }, /imagePullPolicy: must be one of/],
  ['bad container name', o => { app(o).name = 'App_1' }, /name: must be a DNS-1123 label/],
  ['Service name must start with a letter', o => { o[2].metadata.name = '1app' }, /must be a DNS-1035 label/],
  ['bad label value', o => { dep(o).spec.template.metadata.labels.version = 'v1!' }, /must be a label value/],
  ['bad label key', o => { dep(o).metadata.labels = { 'bad key': 'x' } }, /key "bad key"/],
  ['annotation value not a string', o => { dep(o).spec.template.metadata.annotations = { 'prometheus.io/scrape': true } }, /must be a string, got boolean/],
  ['probe with two handlers', o => { app(o).readinessProbe.tcpSocket = { port: 8080 } }, /exactly one of httpGet, tcpSocket, exec, grpc/],
  ['probe with no handler', o => { app(o).readinessProbe = { periodSeconds: 2 } }, /exactly one of httpGet, tcpSocket, exec, grpc \(has none\)/],
  ['probe port not declared', o => { app(o).readinessProbe.httpGet.port = 9999 }, /probe port 9999 is not declared/],
  ['probe named port unknown', o => { app(o).readinessProbe.httpGet.port = 'health' }, /probe port "health" is not a named port/],
  ['env with value and valueFrom', o => { app(o).env[0].value = 'x' }, /at most one of value, valueFrom/],
  ['env fieldRef to a field the downward API lacks', o => { app(o).env[0].valueFrom.fieldRef.fieldPath = 'spec.containers' }, /not a pod field the downward API/],
  ['env fieldRef to a label the pod lacks', o => { app(o).env[0].valueFrom.fieldRef.fieldPath = "metadata.labels['missing']" }, /no label "missing"/],
  ['$(VAR) before its definition', o => { app(o).env.reverse() }, /\$\(A\) is not a variable defined earlier/],
  ['duplicate env', o => { app(o).env.push({ name: 'A', value: 'x' }) }, /duplicate variable A/],
  ['mount of a missing volume', o => { app(o).volumeMounts[0].name = 'nope' }, /no volume named nope/],
  ['volume never mounted', o => { pod(o).volumes.push({ name: 'extra', emptyDir: {} }) }, /volume extra is not mounted/],
  ['volume with two sources', o => { pod(o).volumes[0].emptyDir = {} }, /exactly one of emptyDir, configMap, secret, downwardAPI/],
  ['ConfigMap not defined', o => { pod(o).volumes[0].configMap.name = 'other' }, /ConfigMap other is not defined/],
  ['ConfigMap item key missing', o => { pod(o).volumes[0].configMap.items = [{ key: 'b.yaml', path: 'b.yaml' }] }, /has no key b\.yaml/],
  ['ServiceAccount not defined', o => { pod(o).serviceAccountName = 'ghost' }, /ServiceAccount ghost is not defined/],
  ['selector not in template labels', o => { dep(o).spec.selector.matchLabels = { app: 'other' } }, /must include the selector's matchLabels/],
  ['Service selects nothing', o => { o[2].spec.selector = { app: 'other' } }, /selects no pod/],
  ['Service targetPort not a container port', o => { o[2].spec.ports[0].targetPort = 9090 }, /9090 is not a container port/],
  ['Service named targetPort unknown', o => { o[2].spec.ports[0].targetPort = 'grpc' }, /"grpc" is not a container port/],
  ['two unnamed Service ports', o => { o[2].spec.ports = [{ port: 80, targetPort: 8080 }, { port: 81, targetPort: 8080 }] }, /must be named when a Service has more than one/],
  ['port name too long', o => { app(o).ports[0].name = 'http-envoy-prometheus' }, /1-15 characters/],
  ['duplicate port across containers', o => { pod(o).containers.push({ name: 'side', image: 'x', ports: [{ containerPort: 8080 }] }) }, /TCP\/8080 is also declared by container app/],
  ['duplicate container name', o => { pod(o).initContainers = [{ name: 'app', image: 'x' }] }, /duplicate container name app/],
  ['runAsNonRoot with uid 0', o => { app(o).securityContext.runAsUser = 0 }, /runAsNonRoot: true with runAsUser: 0/],
  ['capability with CAP_ prefix', o => { app(o).securityContext.capabilities.add = ['CAP_NET_ADMIN'] }, /write NET_ADMIN, without the CAP_ prefix/],
  ['uid negative', o => { app(o).securityContext.runAsUser = -1 }, /runAsUser: must be >= 0/],
  ['request above limit', o => { app(o).resources.requests.memory = '1Gi' }, /request 1Gi is above the limit 128Mi/],
  ['bad quantity', o => { app(o).resources.limits.cpu = 'lots' }, /must be a quantity/],
  ['unknown resource', o => { app(o).resources.limits.gpu = 1 }, /unknown resource "gpu"/],
  ['restartPolicy a Deployment cannot have', o => { pod(o).restartPolicy = 'Never' }, /restartPolicy: must be one of "Always"/],
  ['null field', o => { app(o).command = null }, /command: must not be null/],
  ['no containers', o => { pod(o).containers = [] }, /containers: must have at least 1 item/],
  ['ConfigMap key with a slash', o => { o[1].data['dir/a.yaml'] = 'x' }, /key "dir\/a\.yaml" must be alphanumerics/],
  ['ConfigMap value not a string', o => { o[1].data['b.yaml'] = { x: 1 } }, /data\["b\.yaml"\]: must be a string/],
  ['duplicate object', o => { o.push(structuredClone(o[0])) }, /ServiceAccount\/app is also defined at #0/],
  ['unknown kind', o => { o[0].kind = 'Secret' }, /kind "Secret" is not one this checker knows/],
  ['wrong apiVersion', o => { o[3].apiVersion = 'extensions/v1beta1' }, /apiVersion: must be one of "apps\/v1"/],
  ['merge key left in the data', o => { app(o)['<<'] = { name: 'x' } }, /<<: unknown field/]
]

for (const [name, breakIt, expected] of cases) {
  t.test(name, async t => {
    const objs = valid()
    breakIt(objs)
    const found = problems(objs)
    t.ok(found.some(p => expected.test(p)), `reports ${expected}; got:\n${found.join('\n')}`)
  })
}

t.test('name formats', async t => {
  t.equal(portNameProblem('http-envoy-prom'), null)
  t.match(portNameProblem('8080'), /must contain a letter/)
  t.match(portNameProblem('a--b'), /must not contain '--'/)
  t.match(portNameProblem('-a'), /not starting or ending/)
  t.equal(qualifiedKeyProblem('prometheus.io/scrape'), null)
  t.equal(qualifiedKeyProblem('app'), null)
  t.match(qualifiedKeyProblem('Bad_Prefix/x'), /prefix must be a DNS subdomain/)
  t.match(qualifiedKeyProblem('a/'), /name part/)
})

t.test('$(VAR) expansion follows the kubelet', async t => {
  const vars = new Map([['A', 'x'], ['B', 'y']])
  t.same(expandEnv('$(A),$(B)', vars), { value: 'x,y', unresolved: [] })
  t.same(expandEnv('$$(A)', vars), { value: '$(A)', unresolved: [] }, '$$ escapes')
  t.same(expandEnv('$(C)', vars), { value: '$(C)', unresolved: ['C'] }, 'unknown stays literal')
})

t.test('Dockerfile parsing', async t => {
  const df = parseDockerfile([
    '# syntax=docker/dockerfile:1',
    'ARG V=26',
    'FROM node:${V}-trixie-slim AS build',
    'WORKDIR /app',
    '# a comment',
    'RUN apt-get update \\',
    ' # comment inside a continuation',
    ' && apt-get install -y --no-install-recommends python3 make \\',
    ' && rm -rf /var/lib/apt/lists/*',
    'COPY . .',
    'FROM node:${V}-trixie-slim',
    'WORKDIR /app',
    'COPY --from=build /app/dist ./dist',
    'CMD ["run", "--role", "sidecar"]'
  ].join('\n'))
  t.same(df.directives, { syntax: 'docker/dockerfile:1' })
  t.same(df.stages.map(s => [s.image, s.name]), [['node:26-trixie-slim', 'build'], ['node:26-trixie-slim', undefined]])
  t.same(aptInstalls(df.stages[0]), ['python3', 'make'])
  t.same(copies(df.stages[1]), [{ from: 'build', sources: ['/app/dist'], dest: './dist', line: 13 }])
  t.equal(workdir(df.stages[1]), '/app')
  t.same(df.stages[1].instructions.at(-1)?.exec, ['run', '--role', 'sidecar'])
  t.throws(() => parseDockerfile('RUN true\n'), /only ARG may come before the first FROM/)
})

t.test('.dockerignore matching', async t => {
  const ignored = dockerignore('# comment\nnode_modules\n/dist/\nbench/results\n*.log\nbuild\n!build/keep.txt\n')
  t.ok(ignored('node_modules/x/index.js'))
  t.ok(ignored('dist'))
  t.ok(ignored('bench/results/a.json'))
  t.ok(ignored('err.log'))
  t.notOk(ignored('bench/run.js'))
  t.notOk(ignored('src/dist.ts'))
  t.notOk(ignored('sub/node_modules'), 'patterns are anchored at the context root')
  t.ok(ignored('build/Release/a.node'))
  t.notOk(ignored('build/keep.txt'), '! re-includes')
  t.notOk(ignored('.'))
})
