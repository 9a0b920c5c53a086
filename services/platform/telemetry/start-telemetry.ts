import { context, diag, DiagLogLevel, propagation, trace } from "@opentelemetry/api";
import { AsyncLocalStorageContextManager } from "@opentelemetry/context-async-hooks";
import { W3CTraceContextPropagator } from "@opentelemetry/core";
import { OTLPTraceExporter as OtlpJsonExporter } from "@opentelemetry/exporter-trace-otlp-http";
import { OTLPTraceExporter as OtlpProtobufExporter } from "@opentelemetry/exporter-trace-otlp-proto";
import { resourceFromAttributes } from "@opentelemetry/resources";
import {
  AlwaysOffSampler,
  AlwaysOnSampler,
  BatchSpanProcessor,
  ParentBasedSampler,
  TraceIdRatioBasedSampler,
  TracerProvider,
  type Sampler,
  type SpanExporter,
} from "@opentelemetry/sdk-trace";
import { ATTR_SERVICE_NAME } from "@opentelemetry/semantic-conventions";
import type { Logger } from "../process/logger.js";
import { isTracing, setTracing } from "./spans.js";
import type { SamplerName, TelemetryConfig } from "./telemetry-config.js";

/** The process's tracing, once started. */
export interface Telemetry {
  /** Whether spans are recorded and exported. */
  readonly enabled: boolean;
  /** Exports the spans still queued (bounded by the export timeout), then stops tracing. */
  shutdown(): Promise<void>;
}

/** Test seams of startTelemetry. */
export interface TelemetryOverrides {
  /** Replaces the OTLP exporter (tests collect spans in memory with the SDK's InMemorySpanExporter). */
  exporter?: SpanExporter;
}

/**
 * Starts the OpenTelemetry SDK once per process, before its servers and consumers: an
 * AsyncLocalStorage context manager, the W3C Trace Context propagator, and a tracer provider whose
 * BatchSpanProcessor (bounded queue: spans beyond it are dropped, not buffered) exports over OTLP/HTTP
 * in the configured encoding. The exporter itself reads OTEL_EXPORTER_OTLP_HEADERS, _TIMEOUT and
 * _COMPRESSION (and their _TRACES_ forms). Off (no endpoint, OTEL_SDK_DISABLED=true): nothing is
 * registered, the helpers of spans.ts stay pass-throughs, and logging says so once.
 * Export failures are logged at warn through the SDK's diag logger.
 */
export function startTelemetry(config: TelemetryConfig, logger: Logger, overrides: TelemetryOverrides = {}): Telemetry {
  if (!config.enabled) {
    logger.info({ reason: config.reason }, "tracing off");
    return { enabled: false, shutdown: async () => undefined };
  }
  if (isTracing()) throw new Error("startTelemetry called twice in one process");
  const log = logger.child({ component: "telemetry" });
  diag.setLogger(
    {
      error: (message, ...args) => log.warn({ args }, `opentelemetry: ${message}`),
      warn: (message, ...args) => log.warn({ args }, `opentelemetry: ${message}`),
      info: () => undefined,
      debug: () => undefined,
      verbose: () => undefined,
    },
    DiagLogLevel.WARN,
  );
  const contextManager = new AsyncLocalStorageContextManager().enable();
  context.setGlobalContextManager(contextManager);
  propagation.setGlobalPropagator(new W3CTraceContextPropagator());
  const exporter =
    overrides.exporter ??
    (config.protocol === "http/json"
      ? new OtlpJsonExporter({ url: config.url, timeoutMillis: config.exportTimeoutMs })
      : new OtlpProtobufExporter({ url: config.url, timeoutMillis: config.exportTimeoutMs }));
  const provider = new TracerProvider({
    resource: resourceFromAttributes({ [ATTR_SERVICE_NAME]: config.serviceName }),
    sampler: samplerOf(config.sampler, config.samplerRatio),
    spanProcessors: [
      new BatchSpanProcessor({
        exporter,
        maxQueueSize: config.maxQueueSize,
        maxExportBatchSize: Math.min(config.maxExportBatchSize, config.maxQueueSize),
        scheduledDelayMillis: config.scheduleDelayMs,
        exportTimeoutMillis: config.exportTimeoutMs,
      }),
    ],
  });
  trace.setGlobalTracerProvider(provider);
  setTracing(true);
  log.info({ url: config.url, protocol: config.protocol, sampler: config.sampler, ratio: config.samplerRatio, serviceName: config.serviceName }, "tracing on");
  return {
    enabled: true,
    async shutdown() {
      setTracing(false);
      try {
        await provider.shutdown();
      } finally {
        trace.disable();
        propagation.disable();
        context.disable();
        diag.disable();
      }
    },
  };
}

/** The SDK sampler an OTEL_TRACES_SAMPLER name stands for. */
function samplerOf(name: SamplerName, ratio: number): Sampler {
  switch (name) {
    case "always_on":
      return new AlwaysOnSampler();
    case "always_off":
      return new AlwaysOffSampler();
    case "traceidratio":
      return new TraceIdRatioBasedSampler(ratio);
    case "parentbased_always_on":
      return new ParentBasedSampler({ root: new AlwaysOnSampler() });
    case "parentbased_always_off":
      return new ParentBasedSampler({ root: new AlwaysOffSampler() });
    case "parentbased_traceidratio":
      return new ParentBasedSampler({ root: new TraceIdRatioBasedSampler(ratio) });
  }
}
