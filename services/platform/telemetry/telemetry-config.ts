import { ConfigError, readPositiveInt, readString, type Env } from "../process/config.js";

/** The OTLP/HTTP encodings a process can export traces in (OTEL_EXPORTER_OTLP_PROTOCOL). */
export type OtlpProtocol = "http/protobuf" | "http/json";

/** The samplers of the OpenTelemetry SDK environment specification that ordermesh supports (OTEL_TRACES_SAMPLER). */
export type SamplerName = "always_on" | "always_off" | "traceidratio" | "parentbased_always_on" | "parentbased_always_off" | "parentbased_traceidratio";

/** How a process traces: off, or where and how it exports. */
export type TelemetryConfig =
  | {
      /** No exporter, no provider, no propagation: the API's no-op path. */
      enabled: false;
      /** service.name the process would report (logs say which one is off). */
      serviceName: string;
      /** Why tracing is off, for the start-up log line. */
      reason: string;
    }
  | {
      enabled: true;
      /** The resource's service.name: OTEL_SERVICE_NAME, else the service's own name. */
      serviceName: string;
      /** Full URL spans are POSTed to (…/v1/traces). */
      url: string;
      protocol: OtlpProtocol;
      sampler: SamplerName;
      /** The ratio of the traceidratio samplers, 0 to 1 (OTEL_TRACES_SAMPLER_ARG, default 1). */
      samplerRatio: number;
      /** BatchSpanProcessor: spans kept waiting at most (OTEL_BSP_MAX_QUEUE_SIZE, 2048); more are dropped. */
      maxQueueSize: number;
      /** BatchSpanProcessor: spans per export request at most (OTEL_BSP_MAX_EXPORT_BATCH_SIZE, 512). */
      maxExportBatchSize: number;
      /** BatchSpanProcessor: delay between exports in ms (OTEL_BSP_SCHEDULE_DELAY, 5000). */
      scheduleDelayMs: number;
      /** BatchSpanProcessor: longest one export may take in ms (OTEL_BSP_EXPORT_TIMEOUT, 30000). */
      exportTimeoutMs: number;
    };

const protocols: readonly OtlpProtocol[] = ["http/protobuf", "http/json"];
const samplers: readonly SamplerName[] = ["always_on", "always_off", "traceidratio", "parentbased_always_on", "parentbased_always_off", "parentbased_traceidratio"];

/**
 * Reads the standard OpenTelemetry variables (https://opentelemetry.io/docs/specs/otel/configuration/sdk-environment-variables/).
 * Tracing is on only with an endpoint (OTEL_EXPORTER_OTLP_TRACES_ENDPOINT, used as given, or
 * OTEL_EXPORTER_OTLP_ENDPOINT + "/v1/traces"), unless OTEL_SDK_DISABLED=true or OTEL_TRACES_EXPORTER=none.
 * The default sampler is parentbased_traceidratio with ratio 1: the spec's default (parentbased_always_on)
 * in effect, and OTEL_TRACES_SAMPLER_ARG alone then lowers the ratio of new traces.
 * A protocol other than http/protobuf or http/json (grpc included: ordermesh sends OTLP over HTTP only)
 * and a bad sampler or ratio stop the process with the variable's name.
 */
export function readTelemetryConfig(env: Env, service: string): TelemetryConfig {
  const serviceName = readString(env, "OTEL_SERVICE_NAME", service);
  const disabled = readString(env, "OTEL_SDK_DISABLED", "false").toLowerCase();
  if (disabled !== "true" && disabled !== "false") throw new ConfigError(`OTEL_SDK_DISABLED must be "true" or "false", got "${env.OTEL_SDK_DISABLED}"`);
  const exporter = readString(env, "OTEL_TRACES_EXPORTER", "otlp");
  if (exporter !== "otlp" && exporter !== "none") throw new ConfigError(`OTEL_TRACES_EXPORTER must be "otlp" or "none", got "${exporter}"`);
  // Read even when tracing is off, so a typo fails at start rather than on the day it is switched on.
  const protocol = readString(env, "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", readString(env, "OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"));
  if (!protocols.includes(protocol as OtlpProtocol)) {
    const name = env.OTEL_EXPORTER_OTLP_TRACES_PROTOCOL ? "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL" : "OTEL_EXPORTER_OTLP_PROTOCOL";
    throw new ConfigError(`${name} must be "http/protobuf" or "http/json" (OTLP over HTTP), got "${protocol}"`);
  }
  const sampler = readString(env, "OTEL_TRACES_SAMPLER", "parentbased_traceidratio");
  if (!samplers.includes(sampler as SamplerName)) throw new ConfigError(`OTEL_TRACES_SAMPLER must be one of ${samplers.join(", ")}, got "${sampler}"`);
  const samplerRatio = readRatio(env);
  const url = tracesUrl(env);
  const off = disabled === "true" ? "OTEL_SDK_DISABLED=true" : exporter === "none" ? "OTEL_TRACES_EXPORTER=none" : url === undefined ? "no OTEL_EXPORTER_OTLP_ENDPOINT" : undefined;
  if (off) return { enabled: false, serviceName, reason: off };
  return {
    enabled: true,
    serviceName,
    url: url!,
    protocol: protocol as OtlpProtocol,
    sampler: sampler as SamplerName,
    samplerRatio,
    maxQueueSize: readPositiveInt(env, "OTEL_BSP_MAX_QUEUE_SIZE", 2048),
    maxExportBatchSize: readPositiveInt(env, "OTEL_BSP_MAX_EXPORT_BATCH_SIZE", 512),
    scheduleDelayMs: readPositiveInt(env, "OTEL_BSP_SCHEDULE_DELAY", 5000),
    exportTimeoutMs: readPositiveInt(env, "OTEL_BSP_EXPORT_TIMEOUT", 30_000),
  };
}

function readRatio(env: Env): number {
  const raw = readString(env, "OTEL_TRACES_SAMPLER_ARG", "1");
  const ratio = /^\d*\.?\d+$/.test(raw.trim()) ? Number(raw) : NaN;
  if (!(ratio >= 0 && ratio <= 1)) throw new ConfigError(`OTEL_TRACES_SAMPLER_ARG must be a ratio from 0 to 1, got "${raw}"`);
  return ratio;
}

/** The traces URL: the signal's own endpoint as given, or the base endpoint with /v1/traces appended (the spec's rule). */
function tracesUrl(env: Env): string | undefined {
  const own = readString(env, "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "");
  if (own) return httpUrl("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", own);
  const base = readString(env, "OTEL_EXPORTER_OTLP_ENDPOINT", "");
  if (!base) return undefined;
  const url = new URL(httpUrl("OTEL_EXPORTER_OTLP_ENDPOINT", base));
  url.pathname = `${url.pathname.replace(/\/+$/, "")}/v1/traces`;
  return url.toString();
}

function httpUrl(name: string, raw: string): string {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new ConfigError(`${name} must be an http:// or https:// URL, got "${raw}"`);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") throw new ConfigError(`${name} must be an http:// or https:// URL (OTLP over HTTP), got "${raw}"`);
  return raw;
}
