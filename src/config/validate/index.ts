// Placeholder entry point; the real Istio validation rules land in this folder.
import type { ConfigSet, Diagnostic, SourceRef } from '../types'

/** Schema and webhook rules for one document (its kind is a Ferry kind). */
export function validateDocument (_doc: Record<string, unknown>, _where: SourceRef): Diagnostic[] {
  return []
}

/** Cross-resource references (subsets, gateways, hosts) that other files define: warnings, as istioctl analyze. */
export function analyzeReferences (_config: ConfigSet): Diagnostic[] {
  return []
}
