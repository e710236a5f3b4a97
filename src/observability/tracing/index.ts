export {
  NULL_TRACING,
  Tags,
  Tracing,
  serviceNameFromLabels,
  type ProxySpan,
  type RequestTracing,
  type TracingOptions,
} from './tracing'
export { FerrySpan, FerryTracer, FerryTracerProvider, type FerryTracerOptions, type SpanSink } from './otel'
export {
  ZipkinExporter,
  type ExporterStats,
  type IntervalTimer,
  type ReportTransport,
  type ZipkinExporterOptions,
} from './exporter'
export type { ZipkinEndpoint, ZipkinSpan } from './zipkin'
export { B3Extract, extractB3, injectB3 } from './b3'
export { AsyncLocalStorageContextManager } from './context-manager'
