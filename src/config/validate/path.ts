// Dotted field paths as Kubernetes prints them: `spec.http[0].route[1].weight`. Map keys that
// are not plain identifiers (label keys with `/`, port names like `@`) are quoted in brackets
// so the path stays unambiguous.

const PLAIN_KEY = /^[A-Za-z_][A-Za-z0-9_-]*$/

export function child (path: string, key: string): string {
  if (PLAIN_KEY.test(key)) return path === '' ? key : `${path}.${key}`
  return `${path}[${JSON.stringify(key)}]`
}

export function item (path: string, index: number): string {
  return `${path}[${index}]`
}
