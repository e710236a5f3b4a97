// Narrowing helpers for parsed YAML. The shape check (shape.ts) has already reported every
// type mismatch, so the rule modules read fields through these and simply see `undefined`
// for a value of the wrong type instead of reporting it twice.

export type Obj = Record<string, unknown>

export function isObj (v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}

export function obj (v: unknown): Obj | undefined {
  return isObj(v) ? v : undefined
}

export function str (v: unknown): string | undefined {
  return typeof v === 'string' ? v : undefined
}

export function num (v: unknown): number | undefined {
  return typeof v === 'number' && Number.isFinite(v) ? v : undefined
}

export function bool (v: unknown): boolean | undefined {
  return typeof v === 'boolean' ? v : undefined
}

export function list (v: unknown): unknown[] {
  return Array.isArray(v) ? v : []
}

/** Entries of a map field whose values have the expected type. */
export function entries<T> (v: unknown, pick: (x: unknown) => T | undefined): Array<[string, T]> {
  const o = obj(v)
  if (o === undefined) return []
  const out: Array<[string, T]> = []
  for (const [k, raw] of Object.entries(o)) {
    const x = pick(raw)
    if (x !== undefined) out.push([k, x])
  }
  return out
}

/** Kubernetes treats an explicit `null` like an absent field. */
export function has (o: Obj | undefined, key: string): boolean {
  return o !== undefined && o[key] !== undefined && o[key] !== null
}

export function nonEmpty (v: string | undefined): v is string {
  return v !== undefined && v !== ''
}
