// IPC between the primary and its workers (Node cluster's channel, JSON-serialised).

export type PrimaryMessage =
  | { type: 'ferry:drain' }
  | { type: 'ferry:stats', id: number, format: 'json' | 'prometheus', filter: string | null }
  | { type: 'ferry:reset_counters', id: number }
  | { type: 'ferry:logging', id: number, level: string | null }

export type WorkerMessage =
  | { type: 'ferry:ready', index: number, adminPort: number }
  | { type: 'ferry:reply', id: number, body: unknown }
