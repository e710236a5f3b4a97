// Rules shared by several kinds: label maps, workload selectors, exportTo, percentages.
import { checkLabelKey, checkLabelValue, isDNS1123Label } from './names'
import { child, item } from './path'
import { duplicate, invalid, type Report } from './report'
import { entries, list, num, obj, str, type Obj } from './values'

export function checkLabels (labels: unknown, path: string, report: Report): void {
  for (const [k, v] of entries(labels, str)) {
    const keyErr = checkLabelKey(k)
    if (keyErr !== undefined) report.error(child(path, k), keyErr)
    const valueErr = checkLabelValue(v)
    if (valueErr !== undefined) report.error(child(path, k), valueErr)
  }
}

/** `workloadSelector.labels` (ServiceEntry) / `matchLabels` (DestinationRule). */
export function checkSelectorLabels (labels: unknown, path: string, report: Report, emptyWarning: string): void {
  const pairs = entries(labels, str)
  for (const [k, v] of pairs) {
    if (k === '') report.error(child(path, k), `empty key is not supported in selector: "=${v}"`)
    if (k.includes('*') || v.includes('*')) report.error(child(path, k), `wildcard is not supported in selector: "${k}=${v}"`)
  }
  if (pairs.length === 0) report.warn(path, emptyWarning)
}

/**
 * Istio's `percentage` (a double): 0, or 0.0001..100. Envoy's fractional percent has a
 * million-th resolution, which is why tiny non-zero values are refused.
 */
export function checkPercentage (p: Obj | undefined, path: string, report: Report): void {
  const v = num(p?.value)
  if (v === undefined) return
  if (v < 0 || v > 100 || (v > 0 && v < 0.0001)) {
    report.error(child(path, 'value'), `percentage ${v} is neither 0.0, nor in range [0.0001, 100.0]`)
  }
}

export function checkIntPercent (v: number | undefined, path: string, report: Report): void {
  if (v !== undefined && (v < 0 || v > 100)) report.error(path, `percentage ${v} is not in range 0..100`)
}

/** `exportTo`: `.`, `*`, `~` (ServiceEntry only) or namespace names, without duplicates or contradictions. */
export function checkExportTo (exportTo: unknown, path: string, report: Report, namespace: string | undefined, isServiceEntry: boolean): void {
  const values = list(exportTo)
  const seen = new Set<string>()
  values.forEach((raw, i) => {
    const e = str(raw)
    if (e === undefined) return
    const key = e === '.' && namespace !== undefined ? namespace : e
    if (seen.has(key)) {
      report.error(item(path, i), key !== e ? `duplicate entries in exportTo: . and current namespace ${namespace ?? ''}` : duplicate(e))
      return
    }
    seen.add(key)
    const ok = e === '.' || e === '*' || (e === '~' && isServiceEntry) || isDNS1123Label(e)
    if (!ok) report.error(item(path, i), invalid(e, 'exportTo must be ".", "*"' + (isServiceEntry ? ', "~"' : '') + ' or a namespace name'))
  })
  if (values.length > 1 && seen.has('*')) report.error(path, 'cannot have both public (*) and non-public exportTo values for a resource')
  if (values.length > 1 && seen.has('~')) report.error(path, 'cannot export service entry to no one (~) and someone')
}

/** An object field as a record, for rules that read several of its fields. */
export function field (o: Obj | undefined, key: string): Obj | undefined {
  return o === undefined ? undefined : obj(o[key])
}
