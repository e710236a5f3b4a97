// Collects the diagnostics of one document. Every rule reports through a Report so that each
// diagnostic names the file, the document, the resource and the field, without the rules
// having to carry that context around.
import type { Diagnostic, SourceRef } from '../types'

export class Report {
  readonly diagnostics: Diagnostic[] = []
  private readonly where: SourceRef
  private readonly kind: string | undefined
  private readonly name: string | undefined

  constructor (where: SourceRef, kind: string | undefined, name: string | undefined) {
    this.where = where
    this.kind = kind
    this.name = name
  }

  error (field: string, message: string): void {
    this.push('error', field, message)
  }

  warn (field: string, message: string): void {
    this.push('warning', field, message)
  }

  private push (severity: Diagnostic['severity'], field: string, message: string): void {
    const d: Diagnostic = { severity, file: this.where.file, document: this.where.document, field, message }
    if (this.kind !== undefined) d.kind = this.kind
    if (this.name !== undefined) d.name = this.name
    this.diagnostics.push(d)
  }
}

// Kubernetes' own wording for schema failures, so users who know `kubectl apply` errors
// recognise them (`spec.hosts: Required value`).
export const required = (why?: string): string => why === undefined ? 'Required value' : `Required value: ${why}`
export const invalid = (value: unknown, why: string): string => `Invalid value: ${JSON.stringify(value)}: ${why}`
export const duplicate = (value: unknown): string => `Duplicate value: ${JSON.stringify(value)}`
