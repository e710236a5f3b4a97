// Istio's validation for the five networking kinds Ferry reads: the CRD schema (fields, types,
// ranges, CEL rules) and istiod's validating webhook (pkg/config/validation). One document at a
// time here; cross-resource references are analyzeReferences' job (references.ts).
import type { Diagnostic, SourceRef } from '../types'
import { checkDestinationRule } from './destination-rule'
import { checkGateway } from './gateway'
import { isDNS1123Label } from './names'
import { invalid, Report, required } from './report'
import { checkServiceEntry } from './service-entry'
import { checkShape, type Shape } from './shape'
import { destinationRuleSpec, gatewaySpec, metadataShape, serviceEntrySpec, virtualServiceSpec, workloadEntrySpec } from './shapes'
import { has, obj, str, type Obj } from './values'
import { checkVirtualService } from './virtual-service'
import { checkWorkloadEntry } from './workload-entry'

export { analyzeReferences } from './references'

/**
 * `status` is written by istiod and may appear in `kubectl get -o yaml` output; `_err` is the
 * expected-error annotation in Istio's own CRD test data. Neither is configuration.
 */
const TOP_LEVEL = new Set(['apiVersion', 'kind', 'metadata', 'spec', 'status', '_err'])

interface KindRules {
  spec: Shape
  /** ServiceEntry and WorkloadEntry CRDs mark `spec` required; the others only fail their webhook rules without one. */
  specRequired: boolean
  check: (spec: Obj, report: Report, meta: { name?: string, namespace?: string }) => void
}

const KIND_RULES: Record<string, KindRules> = {
  VirtualService: { spec: virtualServiceSpec, specRequired: false, check: (s, r, m) => checkVirtualService(s, r, m.namespace) },
  Gateway: { spec: gatewaySpec, specRequired: false, check: (s, r, m) => checkGateway(s, r, m.name) },
  DestinationRule: { spec: destinationRuleSpec, specRequired: false, check: (s, r, m) => checkDestinationRule(s, r, m.namespace) },
  ServiceEntry: { spec: serviceEntrySpec, specRequired: true, check: (s, r, m) => checkServiceEntry(s, r, m.namespace) },
  WorkloadEntry: { spec: workloadEntrySpec, specRequired: true, check: (s, r) => checkWorkloadEntry(s, 'spec', r, { allowHostnames: true }) }
}

/** Schema and webhook rules for one document (its kind is a Ferry kind). */
export function validateDocument (doc: Record<string, unknown>, where: SourceRef): Diagnostic[] {
  const kind = str(doc.kind)
  const metadata = obj(doc.metadata)
  const name = str(metadata?.name)
  const namespace = str(metadata?.namespace)
  const report = new Report(where, kind, name !== '' ? name : undefined)

  for (const key of Object.keys(doc)) {
    if (!TOP_LEVEL.has(key)) report.error(key, `unknown field "${key}"`)
  }
  if (metadata === undefined) {
    report.error('metadata', has(doc, 'metadata') ? invalid(doc.metadata, 'must be of type object') : required())
  } else {
    checkShape(metadata, metadataShape, 'metadata', report)
    if (name === undefined || name === '') report.error('metadata.name', required('name is required'))
    if (namespace !== undefined && namespace !== '' && !isDNS1123Label(namespace)) {
      report.error('metadata.namespace', invalid(namespace, 'a namespace must be a DNS-1123 label'))
    }
  }

  const rules = kind === undefined ? undefined : KIND_RULES[kind]
  if (rules === undefined) {
    report.error('kind', invalid(doc.kind, 'not a kind Ferry validates'))
    return report.diagnostics
  }
  let spec = obj(doc.spec)
  if (spec === undefined) {
    if (has(doc, 'spec')) {
      report.error('spec', invalid(doc.spec, 'must be of type object'))
      return report.diagnostics
    }
    if (rules.specRequired) {
      report.error('spec', required())
      return report.diagnostics
    }
    spec = {}
  }
  // Meaning is only checked on well-typed input: with a wrong type somewhere the rules would
  // report confusing follow-on errors about the same field.
  if (checkShape(spec, rules.spec, 'spec', report)) rules.check(spec, report, { name, namespace })
  return report.diagnostics
}
