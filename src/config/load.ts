// Reads Istio resources from files and directories (YAML, multi-document, or JSON), validates
// each document, and returns the accepted resources with every diagnostic. Nothing here
// throws for bad input: a bad document becomes an error diagnostic that names the file, the
// document and the field, and the caller decides (start-up refuses, hot reload keeps the last
// good snapshot).

import { readdirSync, readFileSync, statSync } from 'node:fs'
import { join, extname } from 'node:path'
import { parseAllDocuments } from 'yaml'
import {
  API_GROUP, API_VERSIONS, KINDS, type ConfigSet, type Diagnostic, type Kind, type Resource, type SourceRef
} from './types'
import { validateDocument, analyzeReferences } from './validate'

export interface LoadOptions {
  /** Namespace given to resources that name none (the proxy's own, `--namespace`). */
  namespace: string
}

export interface LoadResult {
  config: ConfigSet
  diagnostics: Diagnostic[]
  /** Every file read, so the caller can watch them. */
  files: string[]
}

const CONFIG_EXTENSIONS = new Set(['.yaml', '.yml', '.json'])

export function emptyConfigSet (): ConfigSet {
  return { gateways: [], virtualServices: [], destinationRules: [], serviceEntries: [], workloadEntries: [] }
}

/** Expands directories (recursively, sorted, so load order is stable) into config files. */
export function listConfigFiles (paths: readonly string[]): { files: string[], diagnostics: Diagnostic[] } {
  const files: string[] = []
  const diagnostics: Diagnostic[] = []
  const visit = (path: string, explicit: boolean): void => {
    let st
    try {
      st = statSync(path)
    } catch (err) {
      diagnostics.push({ severity: 'error', file: path, document: 0, field: '', message: `cannot read: ${(err as Error).message}` })
      return
    }
    if (st.isDirectory()) {
      for (const entry of readdirSync(path).sort()) {
        if (entry.startsWith('.')) continue // ConfigMap mounts keep ..data symlinks; skip them
        visit(join(path, entry), false)
      }
    } else if (explicit || CONFIG_EXTENSIONS.has(extname(path).toLowerCase())) {
      files.push(path)
    }
  }
  for (const p of paths) visit(p, true)
  return { files, diagnostics }
}

export function loadConfig (paths: readonly string[], options: LoadOptions): LoadResult {
  const { files, diagnostics } = listConfigFiles(paths)
  const config = emptyConfigSet()
  for (const file of files) {
    let text: string
    try {
      text = readFileSync(file, 'utf8')
    } catch (err) {
      diagnostics.push({ severity: 'error', file, document: 0, field: '', message: `cannot read: ${(err as Error).message}` })
      continue
    }
    loadText(text, file, options, config, diagnostics)
  }
  diagnostics.push(...analyzeReferences(config))
  return { config, diagnostics, files }
}

/** Parses one file's text into `config`, appending diagnostics. Exposed for tests. */
export function loadText (text: string, file: string, options: LoadOptions, config: ConfigSet, diagnostics: Diagnostic[]): void {
  const docs = parseDocuments(text, file, diagnostics)
  docs.forEach((doc, index) => {
    if (doc === null || doc === undefined) return // empty document between `---` separators
    const source: SourceRef = { file, document: index }
    if (typeof doc !== 'object' || Array.isArray(doc)) {
      diagnostics.push({ severity: 'error', file, document: index, field: '', message: 'document is not a mapping' })
      return
    }
    const obj = doc as Record<string, unknown>
    if (obj.kind === 'List' && Array.isArray(obj.items)) {
      // kubectl's List wrapper: each item is its own resource, numbered after the wrapper.
      for (const item of obj.items) addDocument(item, source, options, config, diagnostics)
      return
    }
    addDocument(obj, source, options, config, diagnostics)
  })
}

function parseDocuments (text: string, file: string, diagnostics: Diagnostic[]): unknown[] {
  if (extname(file).toLowerCase() === '.json') {
    try {
      return [JSON.parse(text)]
    } catch (err) {
      diagnostics.push({ severity: 'error', file, document: 0, field: '', message: `invalid JSON: ${(err as Error).message}` })
      return []
    }
  }
  const out: unknown[] = []
  const docs = parseAllDocuments(text, { prettyErrors: true, uniqueKeys: true })
  const list = Array.isArray(docs) ? docs : [docs]
  list.forEach((d, index) => {
    if (d.errors.length > 0) {
      for (const e of d.errors) {
        diagnostics.push({ severity: 'error', file, document: index, field: '', message: `invalid YAML: ${e.message}` })
      }
      out.push(undefined)
      return
    }
    out.push(d.toJS({ maxAliasCount: 100 }))
  })
  return out
}

function addDocument (raw: unknown, source: SourceRef, options: LoadOptions, config: ConfigSet, diagnostics: Diagnostic[]): void {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
    diagnostics.push({ severity: 'error', ...source, field: '', message: 'document is not a mapping' })
    return
  }
  const doc = raw as Record<string, unknown>
  const kind = doc.kind
  const apiVersion = doc.apiVersion
  if (typeof kind !== 'string' || typeof apiVersion !== 'string') {
    diagnostics.push({ severity: 'error', ...source, field: typeof kind !== 'string' ? 'kind' : 'apiVersion', message: 'required field is missing' })
    return
  }
  const [group, version] = apiVersion.split('/')
  if (group !== API_GROUP || !KINDS.includes(kind as Kind)) {
    diagnostics.push({ severity: 'warning', ...source, kind, field: 'kind', message: `skipping ${apiVersion} ${kind}: not an Istio networking kind Ferry reads` })
    return
  }
  if (!(API_VERSIONS as readonly string[]).includes(version)) {
    diagnostics.push({ severity: 'error', ...source, kind, field: 'apiVersion', message: `unsupported version ${apiVersion} (want one of ${API_VERSIONS.map(v => `${API_GROUP}/${v}`).join(', ')})` })
    return
  }
  repairIPv6Lists(doc)
  const errors = validateDocument(doc, source)
  diagnostics.push(...errors)
  if (errors.some(d => d.severity === 'error')) return

  const meta = (doc.metadata ?? {}) as Record<string, unknown>
  const resource: Resource = {
    apiVersion,
    kind: kind as Kind,
    metadata: {
      name: String(meta.name),
      namespace: typeof meta.namespace === 'string' && meta.namespace !== '' ? meta.namespace : options.namespace,
      labels: (meta.labels ?? undefined) as Record<string, string> | undefined,
      annotations: (meta.annotations ?? undefined) as Record<string, string> | undefined
    },
    spec: doc.spec ?? {},
    source
  }
  switch (resource.kind) {
    case 'Gateway': config.gateways.push(resource as ConfigSet['gateways'][number]); break
    case 'VirtualService': config.virtualServices.push(resource as ConfigSet['virtualServices'][number]); break
    case 'DestinationRule': config.destinationRules.push(resource as ConfigSet['destinationRules'][number]); break
    case 'ServiceEntry': config.serviceEntries.push(resource as ConfigSet['serviceEntries'][number]); break
    case 'WorkloadEntry': config.workloadEntries.push(resource as ConfigSet['workloadEntries'][number]); break
  }
}

// A YAML quirk, repaired here on purpose so every consumer sees the address the user wrote.
// Inside a flow sequence, an IPv6 address that ends in `::` (`[1.2.3.4, 2001:db8::]`) parses as a
// one-pair mapping `{"2001:db8:": null}`: the last `:` is followed by `]`, which makes it a
// mapping indicator. Go's YAML decoder (what kubectl and istiod use) reads the string, and Istio's
// own test data relies on that. So in the lists that hold IP addresses, a single-key mapping with
// a null value is turned back into the text it came from: `key + ":"`. Nothing else is touched:
// such a mapping anywhere else still fails validation as the wrong type.
function repairIPv6Lists (doc: Record<string, unknown>): void {
  const spec = asRecord(doc.spec)
  if (spec === undefined) return
  if (doc.kind === 'ServiceEntry') repairList(spec, 'addresses')
  if (doc.kind === 'VirtualService') {
    for (const routes of [spec.tcp, spec.tls]) {
      for (const route of Array.isArray(routes) ? routes : []) {
        const matches = asRecord(route)?.match
        for (const m of Array.isArray(matches) ? matches : []) {
          const match = asRecord(m)
          if (match !== undefined) repairList(match, 'destinationSubnets')
        }
      }
    }
  }
}

function repairList (holder: Record<string, unknown>, key: string): void {
  const list = holder[key]
  if (!Array.isArray(list)) return
  holder[key] = list.map(item => {
    const m = asRecord(item)
    if (m === undefined) return item
    const keys = Object.keys(m)
    return keys.length === 1 && m[keys[0]] === null ? `${keys[0]}:` : item
  })
}

function asRecord (v: unknown): Record<string, unknown> | undefined {
  return typeof v === 'object' && v !== null && !Array.isArray(v) ? v as Record<string, unknown> : undefined
}

/** `file#doc field: message`, the one line form used by the CLI and reload logs. */
export function formatDiagnostic (d: Diagnostic): string {
  const what = [d.kind, d.name].filter(Boolean).join(' ')
  // Diagnostics count documents from 0; people count them from 1 (the first `---` block is document 1).
  const where = `${d.file} document ${d.document + 1}${what ? ` (${what})` : ''}`
  const field = d.field ? ` ${d.field}:` : ''
  const code = d.code ? ` [${d.code}]` : ''
  return `${d.severity}: ${where}${field} ${d.message}${code}`
}
