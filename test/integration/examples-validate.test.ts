// Every example under examples/ (except the Kubernetes manifests, which are not Ferry config)
// must load without errors or warnings, as `ferry validate --config <dir>` would report them.

import t from 'tap'
import { readFileSync, readdirSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { loadConfig, formatDiagnostic } from '../../src/config/load'

const ROOT = join(__dirname, '..', '..', 'examples')

/**
 * Folders holding Istio config directly. Folders of other tools' config (Prometheus, Grafana
 * provisioning) sit beside them in examples/observability and are not Ferry's to validate.
 */
function configDirs (dir: string): string[] {
  const entries = readdirSync(dir)
  const subdirs = entries.map(e => join(dir, e)).filter(p => statSync(p).isDirectory())
  const hasYaml = entries.some(e => /\.(ya?ml|json)$/.test(e) && readFileSync(join(dir, e), 'utf8').includes('networking.istio.io/'))
  const nested = subdirs.flatMap(configDirs)
  return hasYaml ? [dir, ...nested] : nested
}

const dirs = readdirSync(ROOT)
  .filter(e => e !== 'kubernetes' && statSync(join(ROOT, e)).isDirectory())
  .flatMap(e => configDirs(join(ROOT, e)))

t.ok(dirs.length >= 6, `found ${dirs.length} example folders`)
for (const name of ['timeouts', 'retries', 'fault-injection', 'circuit-breaking', 'outlier-detection']) {
  t.ok(dirs.includes(join(ROOT, 'resilience', name)), `examples/resilience/${name} is checked`)
}

for (const dir of dirs) {
  t.test(dir.slice(ROOT.length + 1), async t => {
    const result = loadConfig([dir], { namespace: 'default' })
    t.ok(result.files.length > 0, 'has config files')
    t.same(result.diagnostics.map(formatDiagnostic), [], 'no errors or warnings')
    const c = result.config
    t.ok(c.gateways.length + c.virtualServices.length + c.destinationRules.length + c.serviceEntries.length > 0, 'has resources')
  })
}
