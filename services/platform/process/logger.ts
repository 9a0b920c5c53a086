import { context, isSpanContextValid, trace } from "@opentelemetry/api";
import { pino, type Logger } from "pino";

export type { Logger } from "pino";

const noTrace = Object.freeze({});

/**
 * trace_id and span_id of the active span, for every log line written inside one. While tracing is off
 * no context manager is registered: the API answers the root context at once and this is one lookup.
 */
function traceFields(): Record<string, string> {
  const span = trace.getSpan(context.active());
  const spanContext = span?.spanContext();
  if (!spanContext || !isSpanContextValid(spanContext)) return noTrace;
  return { trace_id: spanContext.traceId, span_id: spanContext.spanId };
}

/** Creates the JSON logger of one process; every line carries the service name, and trace_id/span_id inside a span. */
export function createLogger(service: string, level = process.env.LOG_LEVEL ?? "info"): Logger {
  return pino({
    name: service,
    level,
    base: { service },
    mixin: traceFields,
    // pino's default merge writes the line's fields into the mixin's object; the shared empty one is left alone.
    mixinMergeStrategy: (line, mixed) => (mixed === noTrace ? line : Object.assign(mixed, line)),
  });
}
