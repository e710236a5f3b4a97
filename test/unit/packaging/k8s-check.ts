// A small, strict structural checker for the Kubernetes objects the examples use (Deployment,
// Service, ConfigMap, ServiceAccount), so the manifests stay valid without a cluster, a network or
// an extra npm dependency. It follows the Kubernetes API (core/v1, apps/v1) for the fields it
// knows and rejects every field it does not, the way `kubectl apply` (strict field validation,
// the default since 1.27) rejects unknown fields: a manifest that needs a new field makes the test
// fail until the field is added here, rather than passing unchecked.
//
// Two layers: `checkObject` walks one object against the schema tables below (required fields,
// types, enums, ranges, name formats); `checkSet` checks what the API server and kubelet check
// across fields and objects (exactly one probe handler, volume and mount names, selectors against
// pod labels, Service target ports against container ports, ConfigMap and ServiceAccount
// references, $(VAR) expansion order).

export interface Problem {
  /** Where, e.g. `bookinfo.yaml items[2] Deployment/details-v1`. */
  where: string
  /** Dotted path inside the object, e.g. `spec.template.spec.containers[1].ports[0].name`. */
  path: string
  message: string
}

export interface K8sObject {
  where: string
  obj: Record<string, unknown>
}

// ------------------------------------------------------------------------------ schema language

type Schema =
  | { t: 'string', pattern?: RegExp, patternWhat?: string, enum?: readonly string[], maxLength?: number, minLength?: number }
  | { t: 'int', min?: number, max?: number }
  | { t: 'bool' }
  | { t: 'intOrString' }
  | { t: 'quantity' }
  | { t: 'map', key?: (k: string) => string | null, value: Schema }
  | { t: 'array', items: Schema, minItems?: number }
  | { t: 'object', fields: Record<string, Schema>, required?: readonly string[], exactlyOne?: readonly string[], atMostOne?: readonly string[] }

const str = (extra: Omit<Extract<Schema, { t: 'string' }>, 't'> = {}): Schema => ({ t: 'string', ...extra })
const int = (min?: number, max?: number): Schema => ({ t: 'int', min, max })
const bool: Schema = { t: 'bool' }
const intOrString: Schema = { t: 'intOrString' }
const quantity: Schema = { t: 'quantity' }
const arr = (items: Schema, minItems?: number): Schema => ({ t: 'array', items, minItems })
const obj = (fields: Record<string, Schema>, required: readonly string[] = [], more: { exactlyOne?: readonly string[], atMostOne?: readonly string[] } = {}): Schema =>
  ({ t: 'object', fields, required, ...more })
const map = (value: Schema, key?: (k: string) => string | null): Schema => ({ t: 'map', value, key })

// Name formats, from k8s.io/apimachinery/pkg/util/validation.
const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/
const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/
const DNS1035_LABEL = /^[a-z]([-a-z0-9]*[a-z0-9])?$/
const QUALIFIED_NAME = /^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/
const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/
const ENV_VAR_NAME = /^[-._a-zA-Z][-._a-zA-Z0-9]*$/
const CONFIGMAP_KEY = /^[-._a-zA-Z0-9]+$/
const CAPABILITY = /^[A-Z][A-Z0-9_]*$/
// Quantity: a signed decimal with an optional binary or decimal SI suffix, or an exponent.
const QUANTITY = /^[+-]?(\d+(\.\d*)?|\.\d+)(Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E|[eE][+-]?\d+)?$/

/** `prefix/name` keys of labels and annotations: optional DNS subdomain prefix, qualified name. */
export function qualifiedKeyProblem (key: string): string | null {
  const slash = key.lastIndexOf('/')
  const prefix = slash >= 0 ? key.slice(0, slash) : ''
  const name = slash >= 0 ? key.slice(slash + 1) : key
  if (slash >= 0 && (prefix.length === 0 || prefix.length > 253 || !DNS1123_SUBDOMAIN.test(prefix))) return `key ${JSON.stringify(key)}: prefix must be a DNS subdomain`
  if (name.length === 0 || name.length > 63 || !QUALIFIED_NAME.test(name)) return `key ${JSON.stringify(key)}: name part must be 1-63 alphanumerics, '-', '_' or '.', starting and ending alphanumeric`
  return null
}

/** IANA_SVC_NAME: 1-15 lowercase alphanumerics or '-', at least one letter, no '--', no '-' at the ends. */
export function portNameProblem (name: string): string | null {
  if (name.length === 0 || name.length > 15) return `port name ${JSON.stringify(name)} must be 1-15 characters`
  if (!/^[a-z0-9]([a-z0-9-]*[a-z0-9])?$/.test(name)) return `port name ${JSON.stringify(name)} must be lowercase alphanumerics or '-', not starting or ending with '-'`
  if (name.includes('--')) return `port name ${JSON.stringify(name)} must not contain '--'`
  if (!/[a-z]/.test(name)) return `port name ${JSON.stringify(name)} must contain a letter`
  return null
}

const labelMap = map(str({ maxLength: 63, pattern: LABEL_VALUE, patternWhat: 'a label value (alphanumerics, -, _, . ; starting and ending alphanumeric)' }), qualifiedKeyProblem)
const annotationMap = map(str(), qualifiedKeyProblem)
const portNumber = int(1, 65535)
const protocol = str({ enum: ['TCP', 'UDP', 'SCTP'] })
const absolutePath = str({ pattern: /^\//, patternWhat: 'an absolute path' })

const objectMeta = (nameFormat: 'subdomain' | 'dns1035' | 'none'): Schema => obj({
  name: nameFormat === 'dns1035'
    ? str({ maxLength: 63, pattern: DNS1035_LABEL, patternWhat: 'a DNS-1035 label (lowercase alphanumerics and -, starting with a letter)' })
    : nameFormat === 'subdomain'
      ? str({ maxLength: 253, pattern: DNS1123_SUBDOMAIN, patternWhat: 'a DNS-1123 subdomain' })
      : str(),
  namespace: str({ maxLength: 63, pattern: DNS1123_LABEL, patternWhat: 'a DNS-1123 label' }),
  labels: labelMap,
  annotations: annotationMap
}, nameFormat === 'none' ? [] : ['name'])

const labelSelector = obj({
  matchLabels: labelMap,
  matchExpressions: arr(obj({
    key: str(),
    operator: str({ enum: ['In', 'NotIn', 'Exists', 'DoesNotExist'] }),
    values: arr(str())
  }, ['key', 'operator']))
})

const capabilityList = arr(str({ pattern: CAPABILITY, patternWhat: 'a capability name such as NET_ADMIN (no CAP_ prefix)' }))
const seccompProfile = obj({ type: str({ enum: ['RuntimeDefault', 'Localhost', 'Unconfined'] }), localhostProfile: str() }, ['type'])

const containerSecurityContext = obj({
  runAsUser: int(0),
  runAsGroup: int(0),
  runAsNonRoot: bool,
  privileged: bool,
  allowPrivilegeEscalation: bool,
  readOnlyRootFilesystem: bool,
  capabilities: obj({ add: capabilityList, drop: capabilityList }),
  seccompProfile
})

const podSecurityContext = obj({
  runAsUser: int(0),
  runAsGroup: int(0),
  runAsNonRoot: bool,
  fsGroup: int(0),
  supplementalGroups: arr(int(0)),
  seccompProfile
})

const resourceList = map(quantity, k => ['cpu', 'memory', 'ephemeral-storage'].includes(k) || k.includes('/') ? null : `unknown resource ${JSON.stringify(k)}`)
const resources = obj({ limits: resourceList, requests: resourceList })

const fieldRef = obj({ apiVersion: str({ enum: ['v1'] }), fieldPath: str() }, ['fieldPath'])
const resourceFieldRef = obj({ containerName: str(), resource: str(), divisor: quantity }, ['resource'])
const keyRef = obj({ name: str(), key: str({ pattern: CONFIGMAP_KEY, patternWhat: 'a ConfigMap/Secret key' }), optional: bool }, ['key'])

const envVar = obj({
  name: str({ pattern: ENV_VAR_NAME, patternWhat: 'an environment variable name' }),
  value: str(),
  valueFrom: obj({ fieldRef, resourceFieldRef, configMapKeyRef: keyRef, secretKeyRef: keyRef }, [], {
    exactlyOne: ['fieldRef', 'resourceFieldRef', 'configMapKeyRef', 'secretKeyRef']
  })
}, ['name'], { atMostOne: ['value', 'valueFrom'] })

const probe = obj({
  httpGet: obj({
    path: absolutePath,
    port: intOrString,
    host: str(),
    scheme: str({ enum: ['HTTP', 'HTTPS'] }),
    httpHeaders: arr(obj({ name: str(), value: str() }, ['name', 'value']))
  }, ['port']),
  tcpSocket: obj({ port: intOrString, host: str() }, ['port']),
  exec: obj({ command: arr(str(), 1) }, ['command']),
  grpc: obj({ port: portNumber, service: str() }, ['port']),
  initialDelaySeconds: int(0),
  periodSeconds: int(1),
  timeoutSeconds: int(1),
  successThreshold: int(1),
  failureThreshold: int(1),
  terminationGracePeriodSeconds: int(1)
}, [], { exactlyOne: ['httpGet', 'tcpSocket', 'exec', 'grpc'] })

const container = obj({
  name: str({ maxLength: 63, pattern: DNS1123_LABEL, patternWhat: 'a DNS-1123 label' }),
  image: str({ minLength: 1 }),
  imagePullPolicy: str({ enum: ['Always', 'IfNotPresent', 'Never'] }),
  command: arr(str()),
  args: arr(str()),
  workingDir: absolutePath,
  ports: arr(obj({
    containerPort: portNumber,
    name: str(),
    protocol,
    hostPort: portNumber,
    hostIP: str()
  }, ['containerPort'])),
  env: arr(envVar),
  resources,
  volumeMounts: arr(obj({
    name: str(),
    mountPath: absolutePath,
    readOnly: bool,
    subPath: str(),
    mountPropagation: str({ enum: ['None', 'HostToContainer', 'Bidirectional'] })
  }, ['name', 'mountPath'])),
  livenessProbe: probe,
  readinessProbe: probe,
  startupProbe: probe,
  securityContext: containerSecurityContext,
  terminationMessagePolicy: str({ enum: ['File', 'FallbackToLogsOnError'] }),
  // Only on init containers: `Always` makes a native sidecar (Kubernetes 1.29+).
  restartPolicy: str({ enum: ['Always'] })
}, ['name', 'image'])

const keyToPath = arr(obj({ key: str({ pattern: CONFIGMAP_KEY, patternWhat: 'a ConfigMap key' }), path: str({ pattern: /^[^/]/, patternWhat: 'a relative path' }), mode: int(0, 0o777) }, ['key', 'path']))

const volume = obj({
  name: str({ maxLength: 63, pattern: DNS1123_LABEL, patternWhat: 'a DNS-1123 label' }),
  emptyDir: obj({ medium: str({ enum: ['', 'Memory'] }), sizeLimit: quantity }),
  configMap: obj({ name: str(), items: keyToPath, defaultMode: int(0, 0o777), optional: bool }, ['name']),
  secret: obj({ secretName: str(), items: keyToPath, defaultMode: int(0, 0o777), optional: bool }, ['secretName']),
  downwardAPI: obj({
    items: arr(obj({ path: str(), fieldRef, resourceFieldRef, mode: int(0, 0o777) }, ['path'], { exactlyOne: ['fieldRef', 'resourceFieldRef'] })),
    defaultMode: int(0, 0o777)
  })
}, ['name'], { exactlyOne: ['emptyDir', 'configMap', 'secret', 'downwardAPI'] })

const podSpec = obj({
  containers: arr(container, 1),
  initContainers: arr(container),
  volumes: arr(volume),
  serviceAccountName: str({ pattern: DNS1123_SUBDOMAIN, patternWhat: 'a DNS-1123 subdomain' }),
  automountServiceAccountToken: bool,
  securityContext: podSecurityContext,
  terminationGracePeriodSeconds: int(0),
  // A Deployment's pods must be restarted by the kubelet: `Always` is the only value allowed.
  restartPolicy: str({ enum: ['Always'] }),
  nodeSelector: map(str()),
  dnsPolicy: str({ enum: ['ClusterFirst', 'ClusterFirstWithHostNet', 'Default', 'None'] }),
  enableServiceLinks: bool,
  priorityClassName: str(),
  shareProcessNamespace: bool
}, ['containers'])

const deployment = obj({
  apiVersion: str({ enum: ['apps/v1'] }),
  kind: str({ enum: ['Deployment'] }),
  metadata: objectMeta('subdomain'),
  spec: obj({
    replicas: int(0),
    selector: labelSelector,
    template: obj({ metadata: objectMeta('none'), spec: podSpec }, ['metadata', 'spec']),
    strategy: obj({
      type: str({ enum: ['RollingUpdate', 'Recreate'] }),
      rollingUpdate: obj({ maxSurge: intOrString, maxUnavailable: intOrString })
    }),
    minReadySeconds: int(0),
    revisionHistoryLimit: int(0),
    progressDeadlineSeconds: int(1),
    paused: bool
  }, ['selector', 'template'])
}, ['apiVersion', 'kind', 'metadata', 'spec'])

const service = obj({
  apiVersion: str({ enum: ['v1'] }),
  kind: str({ enum: ['Service'] }),
  metadata: objectMeta('dns1035'),
  spec: obj({
    type: str({ enum: ['ClusterIP', 'NodePort', 'LoadBalancer', 'ExternalName'] }),
    ports: arr(obj({
      name: str(),
      port: portNumber,
      targetPort: intOrString,
      protocol,
      appProtocol: str(),
      nodePort: int(30000, 32767)
    }, ['port'])),
    selector: map(str()),
    clusterIP: str(),
    sessionAffinity: str({ enum: ['None', 'ClientIP'] }),
    externalTrafficPolicy: str({ enum: ['Cluster', 'Local'] }),
    internalTrafficPolicy: str({ enum: ['Cluster', 'Local'] }),
    publishNotReadyAddresses: bool
  })
}, ['apiVersion', 'kind', 'metadata', 'spec'])

const configMap = obj({
  apiVersion: str({ enum: ['v1'] }),
  kind: str({ enum: ['ConfigMap'] }),
  metadata: objectMeta('subdomain'),
  data: map(str(), k => k.length <= 253 && CONFIGMAP_KEY.test(k) ? null : `key ${JSON.stringify(k)} must be alphanumerics, '-', '_' or '.'`),
  binaryData: map(str()),
  immutable: bool
}, ['apiVersion', 'kind', 'metadata'])

const serviceAccount = obj({
  apiVersion: str({ enum: ['v1'] }),
  kind: str({ enum: ['ServiceAccount'] }),
  metadata: objectMeta('subdomain'),
  automountServiceAccountToken: bool,
  imagePullSecrets: arr(obj({ name: str() }, ['name']))
}, ['apiVersion', 'kind', 'metadata'])

export const SCHEMAS: Readonly<Record<string, Schema>> = {
  Deployment: deployment,
  Service: service,
  ConfigMap: configMap,
  ServiceAccount: serviceAccount
}

// ------------------------------------------------------------------------------ schema walk

function isPlainObject (v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}

function typeName (v: unknown): string {
  if (v === null) return 'null'
  if (Array.isArray(v)) return 'array'
  return typeof v
}

function walk (value: unknown, schema: Schema, path: string, out: (path: string, message: string) => void): void {
  switch (schema.t) {
    case 'string': {
      if (typeof value !== 'string') { out(path, `must be a string, got ${typeName(value)} ${JSON.stringify(value)}`); return }
      if (schema.enum !== undefined && !schema.enum.includes(value)) out(path, `must be one of ${schema.enum.map(e => JSON.stringify(e)).join(', ')}, got ${JSON.stringify(value)}`)
      if (schema.maxLength !== undefined && value.length > schema.maxLength) out(path, `must be at most ${schema.maxLength} characters`)
      if (schema.minLength !== undefined && value.length < schema.minLength) out(path, `must be at least ${schema.minLength} characters`)
      if (schema.pattern !== undefined && !schema.pattern.test(value)) out(path, `must be ${schema.patternWhat ?? String(schema.pattern)}, got ${JSON.stringify(value)}`)
      return
    }
    case 'int':
      if (typeof value !== 'number' || !Number.isInteger(value)) { out(path, `must be an integer, got ${typeName(value)} ${JSON.stringify(value)}`); return }
      if (schema.min !== undefined && value < schema.min) out(path, `must be >= ${schema.min}, got ${value}`)
      if (schema.max !== undefined && value > schema.max) out(path, `must be <= ${schema.max}, got ${value}`)
      return
    case 'bool':
      if (typeof value !== 'boolean') out(path, `must be a boolean, got ${typeName(value)} ${JSON.stringify(value)}`)
      return
    case 'intOrString':
      if (typeof value === 'string') {
        if (value.length === 0) out(path, 'must not be empty')
      } else if (typeof value !== 'number' || !Number.isInteger(value)) {
        out(path, `must be an integer or a string, got ${typeName(value)}`)
      }
      return
    case 'quantity':
      if (typeof value === 'number') return
      if (typeof value !== 'string' || !QUANTITY.test(value)) out(path, `must be a quantity such as 100m, 1, 128Mi; got ${JSON.stringify(value)}`)
      return
    case 'map':
      if (!isPlainObject(value)) { out(path, `must be a mapping, got ${typeName(value)}`); return }
      for (const [k, v] of Object.entries(value)) {
        const keyProblem = schema.key?.(k)
        if (keyProblem) out(path, keyProblem)
        walk(v, schema.value, `${path}[${JSON.stringify(k)}]`, out)
      }
      return
    case 'array':
      if (!Array.isArray(value)) { out(path, `must be a list, got ${typeName(value)}`); return }
      if (schema.minItems !== undefined && value.length < schema.minItems) out(path, `must have at least ${schema.minItems} item(s)`)
      value.forEach((item, i) => walk(item, schema.items, `${path}[${i}]`, out))
      return
    case 'object': {
      if (!isPlainObject(value)) { out(path, `must be a mapping, got ${typeName(value)}`); return }
      const at = (f: string): string => (path ? `${path}.${f}` : f)
      for (const f of schema.required ?? []) {
        if (value[f] === undefined || value[f] === null) out(at(f), 'required field is missing')
      }
      for (const [f, v] of Object.entries(value)) {
        const sub = schema.fields[f]
        if (sub === undefined) { out(at(f), 'unknown field (strict: not in the Kubernetes API, or not yet in this checker)'); continue }
        if (v === null || v === undefined) { out(at(f), 'must not be null (remove the field instead)'); continue }
        walk(v, sub, at(f), out)
      }
      const present = (fs: readonly string[]): string[] => fs.filter(f => value[f] !== undefined)
      if (schema.exactlyOne !== undefined) {
        const p = present(schema.exactlyOne)
        if (p.length !== 1) out(path, `must set exactly one of ${schema.exactlyOne.join(', ')} (has ${p.length === 0 ? 'none' : p.join(', ')})`)
      }
      if (schema.atMostOne !== undefined) {
        const p = present(schema.atMostOne)
        if (p.length > 1) out(path, `must set at most one of ${schema.atMostOne.join(', ')} (has ${p.join(', ')})`)
      }
    }
  }
}

/** Structural check of one object against its kind's schema. */
export function checkObject (o: K8sObject): Problem[] {
  const problems: Problem[] = []
  const out = (path: string, message: string): void => { problems.push({ where: o.where, path, message }) }
  const kind = o.obj.kind
  const schema = typeof kind === 'string' ? SCHEMAS[kind] : undefined
  if (schema === undefined) {
    out('kind', `kind ${JSON.stringify(kind)} is not one this checker knows (${Object.keys(SCHEMAS).join(', ')})`)
    return problems
  }
  walk(o.obj, schema, '', out)
  return problems
}

// ------------------------------------------------------------------------------ typed views
// After checkObject passed, these shapes hold; the views only save casts.

export interface ContainerPort { containerPort: number, name?: string, protocol?: string }
export interface EnvVar { name: string, value?: string, valueFrom?: { fieldRef?: { fieldPath: string }, configMapKeyRef?: { name?: string, key: string }, secretKeyRef?: { name?: string, key: string }, resourceFieldRef?: { containerName?: string, resource: string } } }
export interface Probe { httpGet?: { path?: string, port: number | string }, tcpSocket?: { port: number | string }, grpc?: { port: number }, exec?: { command: string[] } }
export interface SecurityContext { runAsUser?: number, runAsGroup?: number, runAsNonRoot?: boolean, privileged?: boolean, allowPrivilegeEscalation?: boolean, readOnlyRootFilesystem?: boolean, capabilities?: { add?: string[], drop?: string[] } }
export interface Container {
  name: string
  image: string
  imagePullPolicy?: string
  command?: string[]
  args?: string[]
  ports?: ContainerPort[]
  env?: EnvVar[]
  resources?: { limits?: Record<string, string | number>, requests?: Record<string, string | number> }
  volumeMounts?: Array<{ name: string, mountPath: string, readOnly?: boolean }>
  livenessProbe?: Probe
  readinessProbe?: Probe
  startupProbe?: Probe
  securityContext?: SecurityContext
  restartPolicy?: string
}
export interface Volume { name: string, emptyDir?: object, configMap?: { name: string, items?: Array<{ key: string, path: string }>, optional?: boolean }, secret?: object, downwardAPI?: object }
export interface PodSpec { containers: Container[], initContainers?: Container[], volumes?: Volume[], serviceAccountName?: string, securityContext?: SecurityContext }
export interface PodTemplate { metadata: { labels?: Record<string, string>, annotations?: Record<string, string> }, spec: PodSpec }
export interface Deployment { metadata: { name: string, labels?: Record<string, string> }, spec: { selector: { matchLabels?: Record<string, string>, matchExpressions?: unknown[] }, template: PodTemplate } }
export interface ServicePort { name?: string, port: number, targetPort?: number | string, protocol?: string }
export interface Service { metadata: { name: string }, spec: { type?: string, ports?: ServicePort[], selector?: Record<string, string> } }
export interface ConfigMap { metadata: { name: string }, data?: Record<string, string>, binaryData?: Record<string, string> }

export function kindOf (o: K8sObject): string { return String(o.obj.kind) }
export function nameOf (o: K8sObject): string { return String((o.obj.metadata as { name?: unknown } | undefined)?.name) }
export function asDeployment (o: K8sObject): Deployment { return o.obj as unknown as Deployment }
export function asService (o: K8sObject): Service { return o.obj as unknown as Service }
export function asConfigMap (o: K8sObject): ConfigMap { return o.obj as unknown as ConfigMap }

/** Every container of a pod, init containers first, with its path inside the pod spec. */
export function podContainers (spec: PodSpec): Array<{ c: Container, path: string, init: boolean }> {
  return [
    ...(spec.initContainers ?? []).map((c, i) => ({ c, path: `initContainers[${i}]`, init: true })),
    ...spec.containers.map((c, i) => ({ c, path: `containers[${i}]`, init: false }))
  ]
}

/** Whether `labels` satisfies a Service selector or a Deployment's matchLabels. */
export function selects (selector: Record<string, string> | undefined, labels: Record<string, string> | undefined): boolean {
  if (selector === undefined || Object.keys(selector).length === 0) return false
  return Object.entries(selector).every(([k, v]) => labels?.[k] === v)
}

/**
 * Expands `$(VAR)` in an env value the way the kubelet does: only variables defined earlier in the
 * same container are replaced, `$$` escapes, anything else stays literal. Returns the unresolved
 * references too, since a literal `$(X)` left in a value is almost always a mistake.
 */
export function expandEnv (value: string, defined: ReadonlyMap<string, string>): { value: string, unresolved: string[] } {
  const unresolved: string[] = []
  const expanded = value.replace(/\$\$|\$\(([^)]*)\)/g, (m: string, name: string | undefined) => {
    if (m === '$$') return '$'
    if (name !== undefined && defined.has(name)) return defined.get(name) as string
    unresolved.push(name ?? '')
    return m
  })
  return { value: expanded, unresolved }
}

/**
 * Resolves a container's environment with the pod it runs in: downward-API fields that are known
 * before the pod exists (labels, annotations, namespace, service account) become their values;
 * fields known only at run time (pod name, IPs, node) become `<fieldPath>`.
 */
export function resolveEnv (c: Container, pod: PodTemplate, namespace = 'default'): { env: Map<string, string>, problems: Array<{ path: string, message: string }> } {
  const env = new Map<string, string>()
  const problems: Array<{ path: string, message: string }> = []
  ;(c.env ?? []).forEach((e, i) => {
    let value = ''
    if (e.value !== undefined) {
      const x = expandEnv(e.value, env)
      for (const u of x.unresolved) problems.push({ path: `env[${i}].value`, message: `$(${u}) is not a variable defined earlier in this container, so it stays literal` })
      value = x.value
    } else if (e.valueFrom?.fieldRef !== undefined) {
      const fp = e.valueFrom.fieldRef.fieldPath
      const label = /^metadata\.labels\['([^']+)'\]$/.exec(fp)
      const annotation = /^metadata\.annotations\['([^']+)'\]$/.exec(fp)
      if (label !== null) {
        const v = pod.metadata.labels?.[label[1]]
        if (v === undefined) problems.push({ path: `env[${i}].valueFrom.fieldRef.fieldPath`, message: `the pod has no label ${JSON.stringify(label[1])}, so the variable is empty` })
        value = v ?? ''
      } else if (annotation !== null) {
        value = pod.metadata.annotations?.[annotation[1]] ?? ''
      } else if (fp === 'metadata.namespace') {
        value = namespace
      } else if (fp === 'spec.serviceAccountName') {
        value = pod.spec.serviceAccountName ?? 'default'
      } else if (['metadata.name', 'metadata.uid', 'spec.nodeName', 'status.hostIP', 'status.hostIPs', 'status.podIP', 'status.podIPs'].includes(fp)) {
        value = `<${fp}>`
      } else {
        problems.push({ path: `env[${i}].valueFrom.fieldRef.fieldPath`, message: `${JSON.stringify(fp)} is not a pod field the downward API can put in an environment variable` })
      }
    } else if (e.valueFrom !== undefined) {
      value = '<from a reference>'
    }
    if (env.has(e.name)) problems.push({ path: `env[${i}].name`, message: `duplicate variable ${e.name}` })
    env.set(e.name, value)
  })
  return { env, problems }
}

// ------------------------------------------------------------------------------ semantic checks

function parseQuantity (q: string | number): number {
  if (typeof q === 'number') return q
  const m = /^([+-]?(?:\d+(?:\.\d*)?|\.\d+))([a-zA-Z]*)([eE][+-]?\d+)?$/.exec(q)
  if (m === null) return Number.NaN
  const scale: Record<string, number> = { '': 1, n: 1e-9, u: 1e-6, m: 1e-3, k: 1e3, M: 1e6, G: 1e9, T: 1e12, P: 1e15, E: 1e18, Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, Ti: 2 ** 40, Pi: 2 ** 50, Ei: 2 ** 60 }
  const exp = m[3] !== undefined ? 10 ** Number(m[3].slice(1)) : 1
  return Number(m[1]) * (scale[m[2]] ?? Number.NaN) * exp
}

/**
 * Checks that need more than one field or object. `objects` are the objects that are applied
 * together (one example directory); references (ConfigMaps, ServiceAccounts) must resolve within
 * it. Run it only on objects that passed checkObject.
 */
export function checkSet (objects: readonly K8sObject[]): Problem[] {
  const problems: Problem[] = []
  const byKind = (k: string): K8sObject[] => objects.filter(o => kindOf(o) === k)

  // One name per kind (and namespace; the examples use the namespace they are applied to).
  const seen = new Map<string, string>()
  for (const o of objects) {
    const key = `${kindOf(o)}/${nameOf(o)}`
    const first = seen.get(key)
    if (first !== undefined) problems.push({ where: o.where, path: 'metadata.name', message: `${key} is also defined at ${first}` })
    else seen.set(key, o.where)
  }

  const configMaps = new Map(byKind('ConfigMap').map(o => [nameOf(o), asConfigMap(o)]))
  const serviceAccounts = new Set(byKind('ServiceAccount').map(nameOf))
  const deployments = byKind('Deployment')

  for (const o of deployments) {
    const d = asDeployment(o)
    const out = (path: string, message: string): void => { problems.push({ where: o.where, path, message }) }
    const pod = d.spec.template
    const podLabels = pod.metadata.labels ?? {}
    const matchLabels = d.spec.selector.matchLabels ?? {}
    if (Object.keys(matchLabels).length === 0 && (d.spec.selector.matchExpressions ?? []).length === 0) out('spec.selector', 'a Deployment selector must not be empty')
    if (!Object.entries(matchLabels).every(([k, v]) => podLabels[k] === v)) out('spec.template.metadata.labels', `must include the selector's matchLabels ${JSON.stringify(matchLabels)} (the API server rejects the Deployment otherwise)`)

    const spec = pod.spec
    const base = 'spec.template.spec'
    if (spec.serviceAccountName !== undefined && spec.serviceAccountName !== 'default' && !serviceAccounts.has(spec.serviceAccountName)) {
      out(`${base}.serviceAccountName`, `ServiceAccount ${spec.serviceAccountName} is not defined alongside (pods would fail to be created)`)
    }

    // Volumes: unique names, each one mounted, ConfigMaps defined alongside with the listed keys.
    const volumes = new Map<string, Volume>()
    ;(spec.volumes ?? []).forEach((v, i) => {
      if (volumes.has(v.name)) out(`${base}.volumes[${i}].name`, `duplicate volume name ${v.name}`)
      volumes.set(v.name, v)
      if (v.configMap !== undefined) {
        const cm = configMaps.get(v.configMap.name)
        if (cm === undefined) {
          if (v.configMap.optional !== true) out(`${base}.volumes[${i}].configMap.name`, `ConfigMap ${v.configMap.name} is not defined alongside (the pod would not start)`)
        } else {
          for (const [j, item] of (v.configMap.items ?? []).entries()) {
            if (cm.data?.[item.key] === undefined && cm.binaryData?.[item.key] === undefined) out(`${base}.volumes[${i}].configMap.items[${j}].key`, `ConfigMap ${cm.metadata.name} has no key ${item.key}`)
          }
        }
      }
    })
    const mounted = new Set<string>()

    const containerNames = new Set<string>()
    const portNames = new Map<string, string>()
    const portNumbers = new Map<string, string>()
    for (const { c, path: cp, init } of podContainers(spec)) {
      const at = `${base}.${cp}`
      if (containerNames.has(c.name)) out(`${at}.name`, `duplicate container name ${c.name} in the pod`)
      containerNames.add(c.name)

      // Ports: names are IANA service names, unique in the pod; a port number is bound once per
      // pod network namespace, so two containers declaring the same one cannot both listen.
      for (const [i, p] of (c.ports ?? []).entries()) {
        if (p.name !== undefined) {
          const problem = portNameProblem(p.name)
          if (problem !== null) out(`${at}.ports[${i}].name`, problem)
          const other = portNames.get(p.name)
          if (other !== undefined) out(`${at}.ports[${i}].name`, `port name ${p.name} is also used by ${other}`)
          portNames.set(p.name, c.name)
        }
        const key = `${p.protocol ?? 'TCP'}/${p.containerPort}`
        const other = portNumbers.get(key)
        if (other !== undefined) out(`${at}.ports[${i}].containerPort`, `${key} is also declared by container ${other} (one network namespace per pod)`)
        portNumbers.set(key, c.name)
      }

      // Probes: a named port must be one of this container's; a numbered one must be declared.
      for (const kind of ['livenessProbe', 'readinessProbe', 'startupProbe'] as const) {
        const p = c[kind]
        if (p === undefined) continue
        if (init && c.restartPolicy !== 'Always') out(`${at}.${kind}`, 'init containers (other than native sidecars) may not have probes')
        const port = p.httpGet?.port ?? p.tcpSocket?.port ?? p.grpc?.port
        if (typeof port === 'string') {
          if (!(c.ports ?? []).some(cp2 => cp2.name === port)) out(`${at}.${kind}`, `probe port ${JSON.stringify(port)} is not a named port of container ${c.name}`)
        } else if (typeof port === 'number') {
          if (port < 1 || port > 65535) out(`${at}.${kind}`, `probe port ${port} is out of range`)
          else if (!(c.ports ?? []).some(cp2 => cp2.containerPort === port)) out(`${at}.${kind}`, `probe port ${port} is not declared in container ${c.name}'s ports`)
        }
      }

      // Env: unique names, downward-API paths that exist, $(VAR) referring to earlier variables.
      for (const e of resolveEnv(c, pod).problems) out(`${at}.${e.path}`, e.message)
      for (const [i, e] of (c.env ?? []).entries()) {
        if (e.value === undefined && e.valueFrom === undefined) continue
        const cmRef = e.valueFrom?.configMapKeyRef
        if (cmRef !== undefined) {
          const cm = cmRef.name === undefined ? undefined : configMaps.get(cmRef.name)
          if (cm === undefined) out(`${at}.env[${i}].valueFrom.configMapKeyRef.name`, `ConfigMap ${String(cmRef.name)} is not defined alongside`)
          else if (cm.data?.[cmRef.key] === undefined) out(`${at}.env[${i}].valueFrom.configMapKeyRef.key`, `ConfigMap ${cm.metadata.name} has no key ${cmRef.key}`)
        }
        const rf = e.valueFrom?.resourceFieldRef
        if (rf !== undefined && !/^(limits|requests)\.(cpu|memory|ephemeral-storage)$/.test(rf.resource)) out(`${at}.env[${i}].valueFrom.resourceFieldRef.resource`, `unknown resource ${rf.resource}`)
      }

      // Mounts: each names a volume of the pod, one mount per path.
      const paths = new Set<string>()
      for (const [i, m] of (c.volumeMounts ?? []).entries()) {
        if (!volumes.has(m.name)) out(`${at}.volumeMounts[${i}].name`, `no volume named ${m.name} in the pod`)
        mounted.add(m.name)
        if (paths.has(m.mountPath)) out(`${at}.volumeMounts[${i}].mountPath`, `${m.mountPath} is mounted twice`)
        paths.add(m.mountPath)
      }

      // Security context: root with runAsNonRoot is refused by the kubelet; capability names.
      const sc = c.securityContext
      const user = sc?.runAsUser ?? spec.securityContext?.runAsUser
      const nonRoot = sc?.runAsNonRoot ?? spec.securityContext?.runAsNonRoot
      if (nonRoot === true && user === 0) out(`${at}.securityContext`, 'runAsNonRoot: true with runAsUser: 0 (the kubelet refuses to start it)')
      if (sc?.privileged === true && sc.allowPrivilegeEscalation === false) out(`${at}.securityContext`, 'privileged: true with allowPrivilegeEscalation: false is rejected by the API server')
      for (const list of ['add', 'drop'] as const) {
        for (const [i, cap] of (sc?.capabilities?.[list] ?? []).entries()) {
          if (cap.startsWith('CAP_')) out(`${at}.securityContext.capabilities.${list}[${i}]`, `write ${cap.slice(4)}, without the CAP_ prefix`)
        }
      }

      // Resources: a request above its limit is rejected by the API server.
      for (const r of ['cpu', 'memory', 'ephemeral-storage']) {
        const req = c.resources?.requests?.[r]
        const lim = c.resources?.limits?.[r]
        if (req !== undefined && lim !== undefined && parseQuantity(req) > parseQuantity(lim)) out(`${at}.resources.requests.${r}`, `request ${req} is above the limit ${lim}`)
      }
    }
    ;(spec.volumes ?? []).forEach((v, i) => {
      if (!mounted.has(v.name)) out(`${base}.volumes[${i}]`, `volume ${v.name} is not mounted by any container`)
    })
  }

  // Services: the selector picks at least one pod of a Deployment defined alongside, and each
  // target port is a port that pod declares (by number or by name).
  for (const o of byKind('Service')) {
    const s = asService(o)
    const out = (path: string, message: string): void => { problems.push({ where: o.where, path, message }) }
    if (s.spec.type === 'ExternalName') continue
    const ports = s.spec.ports ?? []
    if (ports.length === 0) out('spec.ports', 'a Service needs at least one port')
    if (ports.length > 1) {
      ports.forEach((p, i) => { if (p.name === undefined) out(`spec.ports[${i}].name`, 'ports must be named when a Service has more than one') })
    }
    const names = new Set<string>()
    const numbers = new Set<string>()
    ports.forEach((p, i) => {
      if (p.name !== undefined) {
        const problem = portNameProblem(p.name)
        if (problem !== null) out(`spec.ports[${i}].name`, problem)
        if (names.has(p.name)) out(`spec.ports[${i}].name`, `duplicate port name ${p.name}`)
        names.add(p.name)
      }
      const key = `${p.protocol ?? 'TCP'}/${p.port}`
      if (numbers.has(key)) out(`spec.ports[${i}].port`, `duplicate port ${key}`)
      numbers.add(key)
    })
    const pods = deployments.map(asDeployment).filter(d => selects(s.spec.selector, d.spec.template.metadata.labels))
    if (pods.length === 0) {
      out('spec.selector', `selects no pod of the Deployments defined alongside (selector ${JSON.stringify(s.spec.selector ?? {})})`)
      continue
    }
    ports.forEach((p, i) => {
      const target = p.targetPort ?? p.port
      for (const d of pods) {
        const containerPorts = d.spec.template.spec.containers.flatMap(c => c.ports ?? [])
        const ok = typeof target === 'number'
          ? containerPorts.some(cp => cp.containerPort === target && (cp.protocol ?? 'TCP') === (p.protocol ?? 'TCP'))
          : containerPorts.some(cp => cp.name === target)
        if (!ok) out(`spec.ports[${i}].targetPort`, `${JSON.stringify(target)} is not a container port of the pods of Deployment ${d.metadata.name}`)
      }
    })
  }

  return problems
}

export function formatProblem (p: Problem): string {
  return `${p.where}${p.path ? ` ${p.path}` : ''}: ${p.message}`
}
