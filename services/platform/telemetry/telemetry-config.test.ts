import { describe, expect, it } from "vitest";
import { createLogger } from "../process/logger.js";
import { contextFromHeaders, isTracing, readTelemetryConfig, startSpan, startTelemetry, traceparentOf } from "./index.js";

const endpoint = { OTEL_EXPORTER_OTLP_ENDPOINT: "http://collector:4318" };

describe("readTelemetryConfig", () => {
  it("is off without an endpoint, with OTEL_SDK_DISABLED=true and with OTEL_TRACES_EXPORTER=none, saying why", () => {
    expect(readTelemetryConfig({}, "orders")).toEqual({ enabled: false, serviceName: "orders", reason: "no OTEL_EXPORTER_OTLP_ENDPOINT" });
    expect(readTelemetryConfig({ ...endpoint, OTEL_SDK_DISABLED: "TRUE" }, "orders")).toMatchObject({ enabled: false, reason: "OTEL_SDK_DISABLED=true" });
    expect(readTelemetryConfig({ ...endpoint, OTEL_TRACES_EXPORTER: "none" }, "orders")).toMatchObject({ enabled: false, reason: "OTEL_TRACES_EXPORTER=none" });
  });

  it("appends /v1/traces to the base endpoint, takes the traces endpoint as given, and defaults as documented", () => {
    expect(readTelemetryConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: "http://collector:4318/" }, "orders")).toEqual({
      enabled: true,
      serviceName: "orders",
      url: "http://collector:4318/v1/traces",
      protocol: "http/protobuf",
      sampler: "parentbased_traceidratio",
      samplerRatio: 1,
      maxQueueSize: 2048,
      maxExportBatchSize: 512,
      scheduleDelayMs: 5000,
      exportTimeoutMs: 30_000,
    });
    const own = readTelemetryConfig({ ...endpoint, OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: "https://traces.example/custom", OTEL_SERVICE_NAME: "orders-eu", OTEL_EXPORTER_OTLP_PROTOCOL: "http/json", OTEL_TRACES_SAMPLER_ARG: "0.1" }, "orders");
    expect(own).toMatchObject({ url: "https://traces.example/custom", serviceName: "orders-eu", protocol: "http/json", samplerRatio: 0.1 });
    expect(readTelemetryConfig({ ...endpoint, OTEL_EXPORTER_OTLP_PROTOCOL: "http/json", OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: "http/protobuf" }, "x")).toMatchObject({ protocol: "http/protobuf" });
  });

  it("stops the start with the variable's name on a protocol, sampler, ratio, switch or URL it cannot honour", () => {
    expect(() => readTelemetryConfig({ ...endpoint, OTEL_EXPORTER_OTLP_PROTOCOL: "grpc" }, "o")).toThrow(/OTEL_EXPORTER_OTLP_PROTOCOL must be "http\/protobuf" or "http\/json".*"grpc"/);
    expect(() => readTelemetryConfig({ ...endpoint, OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: "thrift" }, "o")).toThrow(/OTEL_EXPORTER_OTLP_TRACES_PROTOCOL/);
    // Checked while tracing is off too, so a typo does not wait for the day tracing is switched on.
    expect(() => readTelemetryConfig({ OTEL_EXPORTER_OTLP_PROTOCOL: "grpc" }, "o")).toThrow(/OTEL_EXPORTER_OTLP_PROTOCOL/);
    expect(() => readTelemetryConfig({ ...endpoint, OTEL_TRACES_SAMPLER: "jaeger_remote" }, "o")).toThrow(/OTEL_TRACES_SAMPLER must be one of/);
    expect(() => readTelemetryConfig({ ...endpoint, OTEL_TRACES_SAMPLER_ARG: "1.5" }, "o")).toThrow(/OTEL_TRACES_SAMPLER_ARG must be a ratio from 0 to 1/);
    expect(() => readTelemetryConfig({ ...endpoint, OTEL_SDK_DISABLED: "yes" }, "o")).toThrow(/OTEL_SDK_DISABLED must be "true" or "false"/);
    expect(() => readTelemetryConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: "grpc://collector:4317" }, "o")).toThrow(/OTEL_EXPORTER_OTLP_ENDPOINT must be an http/);
    expect(() => readTelemetryConfig({ ...endpoint, OTEL_BSP_SCHEDULE_DELAY: "soon" }, "o")).toThrow(/OTEL_BSP_SCHEDULE_DELAY/);
  });
});

describe("tracing off", () => {
  it("registers nothing: no span, no traceparent, no extracted context", async () => {
    const telemetry = startTelemetry(readTelemetryConfig({}, "orders"), createLogger("test", "silent"));
    expect(telemetry.enabled).toBe(false);
    expect(isTracing()).toBe(false);
    expect(startSpan("x")).toBeUndefined();
    expect(traceparentOf()).toBeUndefined();
    expect(contextFromHeaders(new Headers({ traceparent: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01" }))).toBeUndefined();
    await telemetry.shutdown();
  });
});
