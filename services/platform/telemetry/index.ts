// Public surface of platform/telemetry: OpenTelemetry traces of a process: the SDK from the standard OTEL_* variables, and span helpers that cost nothing while tracing is off.
export { readTelemetryConfig } from "./telemetry-config.js";
export type { OtlpProtocol, SamplerName, TelemetryConfig } from "./telemetry-config.js";
export { startTelemetry } from "./start-telemetry.js";
export type { Telemetry, TelemetryOverrides } from "./start-telemetry.js";
export {
  contextFromHeaders,
  contextFromTraceparent,
  contextWith,
  endWithError,
  injectTraceHeaders,
  isTracing,
  linkTo,
  runInContext,
  SpanKind,
  SpanStatusCode,
  startSpan,
  traceparentOf,
  withSpan,
} from "./spans.js";
export type { Attributes, Context, Link, Span, SpanStart } from "./spans.js";
