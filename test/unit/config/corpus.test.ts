// Istio's own configuration, as collected in shared/istio-corpus (see its README): every valid
// file loads without an error, and every invalid document is rejected with an error at the
// field it breaks. A missing corpus is a failure, not a skip: CI clones shared/ beside main.
import t from 'tap'
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { parseAllDocuments } from 'yaml'
import { formatDiagnostic, loadConfig } from '../../../src/config/load'
import type { Diagnostic } from '../../../src/config/types'

const CORPUS = resolve(__dirname, '../../../../shared/istio-corpus')
const VALID = join(CORPUS, 'valid')
const INVALID = join(CORPUS, 'invalid')

const errorsOf = (ds: Diagnostic[]): Diagnostic[] => ds.filter(d => d.severity === 'error')
const show = (ds: Diagnostic[]): string => ds.map(formatDiagnostic).join('\n') || '(no diagnostics)'

/** The field each invalid document breaks and the reason, per the corpus README's tables. */
const EXPECTED: Record<string, Array<{ field: string, message: string }>> = {
  'istio__galley_testdata_validation_dataset_networking-v1alpha3-ServiceEntry-invalid.yaml': [
    { field: 'spec.hosts', message: 'service entry must have at least one host' }
  ],
  'istio__pkg_config_validation_testdata_crds_destinationrule-invalid.yaml': [
    { field: 'spec.trafficPolicy.loadBalancer.warmup.minimumPercent', message: 'Invalid value' },
    { field: 'spec.trafficPolicy.loadBalancer.warmup.duration', message: 'Required value' },
    { field: 'spec.trafficPolicy.loadBalancer.warmup.aggression', message: 'Invalid value' }
  ],
  'istio__pkg_config_validation_testdata_crds_serviceentry-invalid.yaml': [
    { field: 'spec', message: 'Required value' },
    { field: 'spec.hosts', message: 'Required value' },
    { field: 'spec.workloadSelector.labels.val', message: 'wildcard is not supported in selector' },
    { field: 'spec.endpoints', message: 'only one of WorkloadSelector or Endpoints can be set' },
    { field: 'spec.hosts[0]', message: 'hostname cannot be wildcard' },
    { field: 'spec.addresses', message: 'CIDR addresses are allowed only for NONE/STATIC resolution types' },
    { field: 'spec.ports[1].name', message: 'Duplicate value' },
    { field: 'spec.ports[1].number', message: 'port number cannot be duplicated' },
    { field: 'spec.ports[0].number', message: 'port must be between 1-65535' },
    { field: 'spec.ports[0].targetPort', message: 'port must be between 1-65535' },
    { field: 'spec.endpoints', message: 'NONE mode cannot set endpoints' },
    { field: 'spec.endpoints', message: 'DNS_ROUND_ROBIN mode cannot have multiple endpoints' }
  ],
  'istio__pkg_config_validation_testdata_crds_workloadentry-invalid.yaml': [
    { field: 'spec', message: 'Required value' },
    { field: 'spec.address', message: 'Address is required' },
    { field: 'spec.address', message: 'UDS may not be a dir' },
    { field: 'spec.address', message: 'UDS must be an absolute path or abstract socket' },
    { field: 'spec.ports', message: 'UDS may not include ports' },
    { field: 'spec.ports.http', message: 'port must be between 1-65535' },
    { field: 'spec.ports["@"]', message: 'port name must be valid' }
  ],
  'istio__pkg_test_datasets_validation_dataset_networking-v1alpha3-DestinationRule-invalid.yaml': [
    { field: 'spec.host', message: 'empty domain name not allowed' }
  ],
  'istio__pkg_test_datasets_validation_dataset_networking-v1beta-DestinationRule-invalid.yaml': [
    { field: 'spec.host', message: 'empty domain name not allowed' }
  ],
  'istio__pkg_test_datasets_validation_dataset_networking-v1alpha3-Gateway-invalid.yaml': [
    { field: 'spec.servers', message: 'gateway must have at least one server' }
  ],
  'istio__pkg_test_datasets_validation_dataset_networking-v1beta-Gateway-invalid.yaml': [
    { field: 'spec.servers', message: 'gateway must have at least one server' }
  ],
  'istio__pkg_test_datasets_validation_dataset_networking-v1alpha3-ServiceEntry-invalid.yaml': [
    { field: 'spec.hosts', message: 'service entry must have at least one host' }
  ],
  'istio__pkg_test_datasets_validation_dataset_networking-v1beta1-ServiceEntry-invalid.yaml': [
    { field: 'spec.hosts', message: 'service entry must have at least one host' }
  ],
  'istio__pkg_test_datasets_validation_dataset_networking-v1alpha3-VirtualService-invalid.yaml': [
    { field: 'spec.http[0].route[1].weight', message: 'weight -15 < 0' }
  ],
  'istio__pkg_test_datasets_validation_dataset_networking-v1beta-VirtualService-invalid.yaml': [
    { field: 'spec.http[0].route[1].weight', message: 'weight -15 < 0' }
  ],
  'istio__pkg_test_datasets_validation_dataset_networking-v1alpha3-VirtualService-regexp-invalid.yaml': [
    { field: 'spec.http[0].match[0].uri.regex', message: 'RE2' }
  ],
  'istio__pkg_test_datasets_validation_dataset_networking-v1alpha3-WorkloadEntry-invalid.yaml': [
    { field: 'spec.address', message: 'Address is required' }
  ],
  'istio__pkg_test_datasets_validation_dataset_networking-v1beta-WorkloadEntry-invalid.yaml': [
    { field: 'spec.address', message: 'Address is required' }
  ]
}

function yamlFiles (dir: string): string[] {
  return readdirSync(dir).filter(f => f.endsWith('.yaml') || f.endsWith('.yml')).sort()
}

/** The documents of a file as parsed, skipping empty ones, with their index in the file. */
function documents (file: string): Array<{ index: number, doc: Record<string, unknown> }> {
  return parseAllDocuments(readFileSync(file, 'utf8'))
    .map((d, index) => ({ index, doc: d.toJS() as unknown }))
    .filter((d): d is { index: number, doc: Record<string, unknown> } => typeof d.doc === 'object' && d.doc !== null)
}

/**
 * Istio's CRD test data states the expected error in `_err`: either a message fragment, or
 * Kubernetes' `field.path: Reason` form, where the path may name the parent of our more precise one.
 */
function matchesErr (err: string, d: Diagnostic): boolean {
  const m = /^(spec[\w.[\]"@-]*): (.+)$/.exec(err)
  if (m === null) return d.message.includes(err)
  const [, path, reason] = m
  const under = d.field === path || d.field.startsWith(`${path}.`) || d.field.startsWith(`${path}[`)
  return under && d.message.includes(reason)
}

t.test('the corpus is present', async t => {
  t.ok(existsSync(VALID), `missing ${VALID}`)
  t.ok(existsSync(INVALID), `missing ${INVALID}`)
})

t.test('every valid file loads without errors', async t => {
  if (!existsSync(VALID)) return t.fail(`corpus missing at ${VALID}`)
  const files = yamlFiles(VALID)
  t.ok(files.length >= 60, `found ${files.length} valid files`)
  for (const f of files) {
    const { diagnostics, config } = loadConfig([join(VALID, f)], { namespace: 'default' })
    t.same(errorsOf(diagnostics), [], `${f}\n${show(diagnostics)}`)
    const loaded = config.gateways.length + config.virtualServices.length + config.destinationRules.length +
      config.serviceEntries.length + config.workloadEntries.length
    t.equal(loaded, documents(join(VALID, f)).length, `${f}: every document becomes a resource`)
  }
})

t.test('every invalid document is rejected at the field it breaks', async t => {
  if (!existsSync(INVALID)) return t.fail(`corpus missing at ${INVALID}`)
  const files = yamlFiles(INVALID)
  t.same(files, Object.keys(EXPECTED).sort(), 'the expectation table covers exactly the invalid files')
  for (const f of files) {
    const path = join(INVALID, f)
    const docs = documents(path)
    const expected = EXPECTED[f] ?? []
    t.equal(docs.length, expected.length, `${f}: one expectation per document`)
    const { diagnostics, config } = loadConfig([path], { namespace: 'default' })
    const loaded = config.gateways.length + config.virtualServices.length + config.destinationRules.length +
      config.serviceEntries.length + config.workloadEntries.length
    t.equal(loaded, 0, `${f}: no invalid document is accepted`)
    docs.forEach(({ index, doc }, i) => {
      const mine = errorsOf(diagnostics).filter(d => d.document === index)
      const want = expected[i]
      if (want === undefined) return
      const label = `${f}#${index} (${String((doc.metadata as { name?: unknown } | undefined)?.name)})`
      t.ok(mine.some(d => d.field === want.field && d.message.includes(want.message)),
        `${label}: error at ${want.field} with "${want.message}"\n${show(mine)}`)
      const err = doc._err
      if (typeof err === 'string') t.ok(mine.some(d => matchesErr(err, d)), `${label}: matches Istio's _err "${err}"\n${show(mine)}`)
    })
  }
})
