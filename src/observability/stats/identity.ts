// Who a workload is, in the words Istio's metric labels use (source_workload, source_app,
// source_canonical_service, ...), and the `x-envoy-peer-metadata` header through which two
// sidecars tell each other. Computed once at start-up (our own identity) or once per peer
// header value seen (callers should cache by header value: peers send the same bytes every time).

export interface WorkloadIdentity {
  workload: string
  app: string
  version: string
  canonicalService: string
  canonicalRevision: string
  namespace: string
  cluster: string
  /** `spiffe://<trust domain>/ns/<namespace>/sa/<service account>`, or `unknown`. */
  principal: string
}

export interface PeerIdentity extends WorkloadIdentity {
  /** Pod name (`NAME`), `unknown` when absent. */
  name: string
  /** `SERVICE_ACCOUNT`, `unknown` when absent. */
  serviceAccount: string
}

const UNKNOWN = 'unknown'

// Kubernetes generates pod-template hashes and pod suffixes from this alphabet (no vowels, no
// 0/1/3), which is what makes stripping them from a pod name safe.
const SAFE = '[bcdfghjklmnpqrstvwxz2456789]'
const DEPLOYMENT_POD = new RegExp(`^(.+)-${SAFE}{1,10}-${SAFE}{5}$`)
const REPLICASET_POD = new RegExp(`^(.+)-${SAFE}{5}$`)

function firstNonEmpty (...values: Array<string | undefined>): string | undefined {
  for (const v of values) if (v !== undefined && v !== '') return v
  return undefined
}

/**
 * The workload (controller) name for a pod, as istiod's injector fills ISTIO_META_WORKLOAD_NAME:
 * `reviews-v1-545db77b95-xk4pq` → `reviews-v1`, `node-exporter-x7k2p` → `node-exporter`. With the
 * `pod-template-hash` label the cut is exact; without it, the Kubernetes suffix shapes are used.
 * StatefulSet pods (`web-0`) cannot be told from a bare pod by name, so they keep their name;
 * set ISTIO_META_WORKLOAD_NAME for them, as the injector does.
 */
export function workloadNameFromPod (podName: string, labels: Readonly<Record<string, string>> = {}): string {
  const hash = labels['pod-template-hash']
  if (hash !== undefined && hash !== '') {
    const at = podName.lastIndexOf(`-${hash}-`)
    if (at > 0) return podName.slice(0, at)
  }
  const deployment = DEPLOYMENT_POD.exec(podName)
  if (deployment !== null) return deployment[1]
  const replicaSet = REPLICASET_POD.exec(podName)
  if (replicaSet !== null) return replicaSet[1]
  return podName
}

function spiffe (trustDomain: string, namespace: string, serviceAccount: string | undefined): string {
  return serviceAccount === undefined || serviceAccount === '' || namespace === UNKNOWN
    ? UNKNOWN
    : `spiffe://${trustDomain}/ns/${namespace}/sa/${serviceAccount}`
}

function labelIdentity (
  labels: Readonly<Record<string, string>>, workload: string
): Pick<WorkloadIdentity, 'app' | 'version' | 'canonicalService' | 'canonicalRevision'> {
  return {
    // source_app / source_version are the raw `app` / `version` labels in Istio.
    app: firstNonEmpty(labels.app) ?? UNKNOWN,
    version: firstNonEmpty(labels.version) ?? UNKNOWN,
    canonicalService: firstNonEmpty(
      labels['service.istio.io/canonical-name'], labels['app.kubernetes.io/name'], labels.app
    ) ?? workload,
    canonicalRevision: firstNonEmpty(
      labels['service.istio.io/canonical-revision'], labels['app.kubernetes.io/version'], labels.version
    ) ?? 'latest'
  }
}

/**
 * Ferry's own identity by Istio's rules. Environment variables are the ones istio-proxy gets from
 * the injector: ISTIO_META_WORKLOAD_NAME, ISTIO_META_CLUSTER_ID (default `Kubernetes`),
 * SERVICE_ACCOUNT, and TRUST_DOMAIN (default `cluster.local`) for the principal.
 */
export function workloadIdentity (opts: {
  labels: Record<string, string>
  namespace: string
  podName?: string
  serviceAccount?: string
  trustDomain?: string
  env?: NodeJS.ProcessEnv
}): WorkloadIdentity {
  const env = opts.env ?? process.env
  const namespace = firstNonEmpty(opts.namespace) ?? UNKNOWN
  const workload = firstNonEmpty(env.ISTIO_META_WORKLOAD_NAME) ??
    (opts.podName !== undefined && opts.podName !== '' ? workloadNameFromPod(opts.podName, opts.labels) : UNKNOWN)
  return {
    workload,
    ...labelIdentity(opts.labels, workload),
    namespace,
    cluster: firstNonEmpty(env.ISTIO_META_CLUSTER_ID) ?? 'Kubernetes',
    principal: spiffe(
      firstNonEmpty(opts.trustDomain, env.TRUST_DOMAIN) ?? 'cluster.local',
      namespace,
      firstNonEmpty(opts.serviceAccount, env.SERVICE_ACCOUNT)
    )
  }
}

// --- x-envoy-peer-metadata -------------------------------------------------------------------
//
// Istio's sidecars send base64 of a serialized google.protobuf.Struct holding the node metadata
// (NAME, NAMESPACE, WORKLOAD_NAME, CLUSTER_ID, SERVICE_ACCOUNT, LABELS{...}, ...). Ferry reads
// that, and also base64 of the same object as JSON, which is easier to produce by hand (curl,
// tests, non-Envoy peers). Only the wire types Struct uses are decoded.

type StructValue = null | number | string | boolean | StructValue[] | { [k: string]: StructValue }

class ProtoReader {
  pos = 0
  constructor (readonly buf: Uint8Array, readonly end: number = buf.length) {}

  varint (): number {
    let result = 0
    let shift = 0
    for (;;) {
      if (this.pos >= this.end) throw new Error('truncated varint')
      const b = this.buf[this.pos++]
      // Multiplication rather than `<<` so lengths above 2^31 do not wrap (they then fail the bounds check).
      result += (b & 0x7f) * 2 ** shift
      if ((b & 0x80) === 0) return result
      shift += 7
      if (shift > 63) throw new Error('varint too long')
    }
  }

  bytes (): ProtoReader {
    const len = this.varint()
    if (this.pos + len > this.end) throw new Error('truncated field')
    const sub = new ProtoReader(this.buf.subarray(this.pos, this.pos + len))
    this.pos += len
    return sub
  }

  string (): string {
    const r = this.bytes()
    return Buffer.from(r.buf.buffer, r.buf.byteOffset, r.buf.length).toString('utf8')
  }

  double (): number {
    if (this.pos + 8 > this.end) throw new Error('truncated double')
    const v = Buffer.from(this.buf.buffer, this.buf.byteOffset + this.pos, 8).readDoubleLE(0)
    this.pos += 8
    return v
  }

  skip (wireType: number): void {
    switch (wireType) {
      case 0: this.varint(); return
      case 1: this.pos += 8; break
      case 2: this.bytes(); return
      case 5: this.pos += 4; break
      default: throw new Error(`unsupported wire type ${wireType}`)
    }
    if (this.pos > this.end) throw new Error('truncated field')
  }
}

function readStruct (r: ProtoReader): { [k: string]: StructValue } {
  const out: { [k: string]: StructValue } = {}
  while (r.pos < r.end) {
    const tag = r.varint()
    if (tag >>> 3 === 1 && (tag & 7) === 2) {
      // map<string, Value> entry: key = 1, value = 2
      const entry = r.bytes()
      let key = ''
      let value: StructValue = null
      while (entry.pos < entry.end) {
        const t = entry.varint()
        if (t >>> 3 === 1 && (t & 7) === 2) key = entry.string()
        else if (t >>> 3 === 2 && (t & 7) === 2) value = readValue(entry.bytes())
        else entry.skip(t & 7)
      }
      out[key] = value
    } else {
      r.skip(tag & 7)
    }
  }
  return out
}

function readValue (r: ProtoReader): StructValue {
  let value: StructValue = null
  while (r.pos < r.end) {
    const tag = r.varint()
    const field = tag >>> 3
    const wire = tag & 7
    if (field === 1 && wire === 0) { r.varint(); value = null } else if (field === 2 && wire === 1) value = r.double()
    else if (field === 3 && wire === 2) value = r.string()
    else if (field === 4 && wire === 0) value = r.varint() !== 0
    else if (field === 5 && wire === 2) value = readStruct(r.bytes())
    else if (field === 6 && wire === 2) {
      const list = r.bytes()
      const items: StructValue[] = []
      while (list.pos < list.end) {
        const t = list.varint()
        if (t >>> 3 === 1 && (t & 7) === 2) items.push(readValue(list.bytes()))
        else list.skip(t & 7)
      }
      value = items
    } else r.skip(wire)
  }
  return value
}

/** Decodes a serialized google.protobuf.Struct; throws on malformed input. */
export function decodeProtobufStruct (bytes: Uint8Array): { [k: string]: StructValue } {
  return readStruct(new ProtoReader(bytes))
}

class ProtoWriter {
  private readonly chunks: Buffer[] = []

  varint (v: number): this {
    const out: number[] = []
    while (v > 0x7f) {
      out.push((v % 128) | 0x80)
      v = Math.floor(v / 128)
    }
    out.push(v)
    this.chunks.push(Buffer.from(out))
    return this
  }

  tag (field: number, wire: number): this { return this.varint(field * 8 + wire) }

  bytes (field: number, b: Buffer): this {
    this.tag(field, 2).varint(b.length)
    this.chunks.push(b)
    return this
  }

  finish (): Buffer { return Buffer.concat(this.chunks) }
}

function writeValue (v: StructValue): Buffer {
  const w = new ProtoWriter()
  if (v === null) w.tag(1, 0).varint(0)
  else if (typeof v === 'number') {
    const b = Buffer.alloc(8)
    b.writeDoubleLE(v)
    w.tag(2, 1)
    return Buffer.concat([w.finish(), b])
  } else if (typeof v === 'string') w.bytes(3, Buffer.from(v, 'utf8'))
  else if (typeof v === 'boolean') w.tag(4, 0).varint(v ? 1 : 0)
  else if (Array.isArray(v)) {
    const list = new ProtoWriter()
    for (const item of v) list.bytes(1, writeValue(item))
    w.bytes(6, list.finish())
  } else w.bytes(5, encodeProtobufStruct(v))
  return w.finish()
}

/** Serializes a google.protobuf.Struct (keys in insertion order). */
export function encodeProtobufStruct (obj: { [k: string]: StructValue }): Buffer {
  const w = new ProtoWriter()
  for (const [k, v] of Object.entries(obj)) {
    const entry = new ProtoWriter().bytes(1, Buffer.from(k, 'utf8')).bytes(2, writeValue(v)).finish()
    w.bytes(1, entry)
  }
  return w.finish()
}

function str (v: StructValue | undefined): string | undefined {
  return typeof v === 'string' && v !== '' ? v : undefined
}

function stringMap (v: StructValue | undefined): Record<string, string> {
  const out: Record<string, string> = {}
  if (v !== null && typeof v === 'object' && !Array.isArray(v)) {
    for (const [k, x] of Object.entries(v)) if (typeof x === 'string') out[k] = x
  }
  return out
}

/**
 * Reads `x-envoy-peer-metadata`: base64 of a protobuf Struct (what Istio sends) or base64 of the
 * same object as JSON (what Ferry also accepts). Returns null when the value decodes to neither,
 * so the caller falls back to what the registry knows about the endpoint, as Istio does.
 * `principal` stays `unknown`: Istio takes it from the peer's mTLS certificate, not this header.
 */
export function parsePeerMetadata (headerValue: string): PeerIdentity | null {
  const trimmed = headerValue.trim()
  if (trimmed === '' || !/^[A-Za-z0-9+/_-]+={0,2}$/.test(trimmed)) return null
  const bytes = Buffer.from(trimmed, trimmed.includes('-') || trimmed.includes('_') ? 'base64url' : 'base64')
  if (bytes.length === 0) return null
  let meta: { [k: string]: StructValue }
  try {
    if (bytes[0] === 0x7b /* '{' */) {
      const parsed: unknown = JSON.parse(bytes.toString('utf8'))
      if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) return null
      meta = parsed as { [k: string]: StructValue }
    } else {
      meta = decodeProtobufStruct(bytes)
    }
  } catch {
    return null
  }
  const labels = stringMap(meta.LABELS)
  const name = str(meta.NAME) ?? UNKNOWN
  const workload = str(meta.WORKLOAD_NAME) ?? (name !== UNKNOWN ? workloadNameFromPod(name, labels) : UNKNOWN)
  const namespace = str(meta.NAMESPACE)
  // A Struct that decoded but carries none of the node fields is not peer metadata.
  if (namespace === undefined && str(meta.WORKLOAD_NAME) === undefined && str(meta.NAME) === undefined) return null
  return {
    name,
    workload,
    ...labelIdentity(labels, workload),
    namespace: namespace ?? UNKNOWN,
    cluster: str(meta.CLUSTER_ID) ?? UNKNOWN,
    principal: UNKNOWN,
    serviceAccount: str(meta.SERVICE_ACCOUNT) ?? UNKNOWN
  }
}

/**
 * The header value Ferry sends so an Istio peer can label its metrics with Ferry's identity:
 * base64 of a protobuf Struct with the node metadata fields Istio's stats filter reads. Compute
 * once at start-up.
 */
export function encodePeerMetadata (id: WorkloadIdentity & { name?: string, serviceAccount?: string, labels?: Record<string, string> }): string {
  const labels: { [k: string]: StructValue } = { ...(id.labels ?? {}) }
  if (labels['service.istio.io/canonical-name'] === undefined) labels['service.istio.io/canonical-name'] = id.canonicalService
  if (labels['service.istio.io/canonical-revision'] === undefined) labels['service.istio.io/canonical-revision'] = id.canonicalRevision
  if (labels.app === undefined && id.app !== UNKNOWN) labels.app = id.app
  if (labels.version === undefined && id.version !== UNKNOWN) labels.version = id.version
  const meta: { [k: string]: StructValue } = {
    CLUSTER_ID: id.cluster,
    LABELS: labels,
    NAMESPACE: id.namespace,
    WORKLOAD_NAME: id.workload
  }
  if (id.name !== undefined) meta.NAME = id.name
  if (id.serviceAccount !== undefined) meta.SERVICE_ACCOUNT = id.serviceAccount
  return encodeProtobufStruct(meta).toString('base64')
}
