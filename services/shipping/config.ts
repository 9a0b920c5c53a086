import { readAdvertisedHost } from "../platform/discovery/index.js";
import {
  type AuthConfig,
  ConfigError,
  type Env,
  readCorsOrigins,
  readDuration,
  readOptionalAuthConfig,
  readOptionalPort,
  readPort,
  readPositiveInt,
  readServerLimits,
  readString,
  readSwitch,
  readUrl,
} from "../platform/process/index.js";
import type { ServerLimits } from "../platform/rpc/index.js";
import { loadTlsConfig, type ReadFile, type TlsConfig } from "../platform/identity/index.js";
import { readEventFamily, readNatsUrl, readStreamLimits, type EventFamilyConfig, type EventStreamLimits } from "../platform/events/index.js";
import { defaultStatementTimeoutMs } from "../platform/db/index.js";
import { readTelemetryConfig, type TelemetryConfig } from "../platform/telemetry/index.js";
import type { CarrierDelays } from "./carrier-simulator.js";

/** Everything the shipping process reads from its environment. */
export interface ShippingConfig {
  /** Interface the gRPC and web listeners bind to. */
  bindHost: string;
  /** Host the replica registers under in the NATS service API (ADVERTISE_HOST; default the bind host, or the hostname when that is a wildcard). */
  advertiseHost: string;
  /** gRPC (grpc-js) port. */
  grpcPort: number;
  /** Plaintext port with grpc.health.v1 alone, for the kubelet's native gRPC probe (HEALTH_PORT; default none). */
  healthPort: number | undefined;
  /** Connect + gRPC-Web port for browsers; undefined when disabled. */
  webPort: number | undefined;
  /** Port of the Prometheus GET /metrics listener (SHIPPING_METRICS_PORT, default 9465); undefined when "off". */
  metricsPort: number | undefined;
  /**
   * OpenTelemetry traces (README "Traces"): the standard OTEL_SDK_DISABLED, OTEL_EXPORTER_OTLP_ENDPOINT /
   * OTEL_EXPORTER_OTLP_TRACES_ENDPOINT (unset: tracing off), OTEL_EXPORTER_OTLP_PROTOCOL (http/protobuf,
   * or http/json), OTEL_TRACES_SAMPLER (parentbased_traceidratio) and OTEL_TRACES_SAMPLER_ARG (1),
   * OTEL_SERVICE_NAME (default "shipping"), OTEL_BSP_* (the span queue and export batch).
   */
  telemetry: TelemetryConfig;
  /** postgres:// URL of the shipping database (created at start if missing). */
  databaseUrl: string;
  /** Connections in the database pool. */
  databasePoolSize: number;
  /** Longest a statement may run before PostgreSQL cancels it (DATABASE_STATEMENT_TIMEOUT_MS). */
  databaseStatementTimeoutMs: number;
  /** TLS of the listeners and the CA that verifies orders' client certificate. */
  tls: TlsConfig;
  /** How customers' bearer tokens for reads are verified (AUTH_*); undefined: no customer reads. */
  auth: AuthConfig | undefined;
  /** AUTH_DISABLED=true: any caller may create, cancel and read shipments (logged as a warning). */
  authDisabled: boolean;
  /** Request size, connection, stream, timeout and in-flight limits (MAX_REQUEST_BYTES, MAX_IN_FLIGHT_CALLS, ...). */
  limits: ServerLimits;
  /** Origins whose pages may call the web port (CORS_ORIGINS). */
  corsOrigins: readonly string[];
  /** Serve grpc.reflection (REFLECTION, default on). */
  reflection: boolean;
  /** nats:// URL of the JetStream server shipping's outbox relay publishes to. */
  natsUrl: string;
  /** Stream and subject prefix of shipping's events (SHIPPING_EVENTS_STREAM, SHIPPING_EVENTS_SUBJECT_PREFIX). */
  events: EventFamilyConfig;
  /** Stream and subject prefix of orders' events (EVENTS_STREAM, EVENTS_SUBJECT_PREFIX): whose dead letters AdminService shows beside shipping's. */
  orderEvents: EventFamilyConfig;
  /** Retention of shipping's stream and its dead letters (EVENTS_MAX_AGE, EVENTS_MAX_BYTES, DEADLETTER_*). */
  streamLimits: EventStreamLimits;
  /** How long published outbox rows are kept before pruning (must outlast the JetStream duplicate window). */
  outboxRetentionMs: number;
  /** Failed publishes of one outbox row before the relay marks it failed and skips it. */
  outboxMaxAttempts: number;
  /** The simulated carrier's delays (CARRIER_PICKUP_AFTER, CARRIER_DELIVER_AFTER; default off). */
  carrier: CarrierDelays;
}

/** Reads and validates the shipping configuration; throws ConfigError naming the bad variable. */
export function loadShippingConfig(env: Env = process.env, readFile?: ReadFile): ShippingConfig {
  const auth = readOptionalAuthConfig(env);
  const bindHost = readString(env, "BIND_HOST", "127.0.0.1");
  const config: ShippingConfig = {
    bindHost,
    advertiseHost: readAdvertisedHost(env, bindHost),
    grpcPort: readPort(env, "SHIPPING_PORT", 50052),
    healthPort: env.HEALTH_PORT ? readPort(env, "HEALTH_PORT", 0) : undefined,
    webPort: readOptionalPort(env, "SHIPPING_WEB_PORT", 8082),
    metricsPort: readOptionalPort(env, "SHIPPING_METRICS_PORT", 9465),
    telemetry: readTelemetryConfig(env, "shipping"),
    databaseUrl: readUrl(env, "SHIPPING_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/shipping", ["postgres", "postgresql"]),
    databasePoolSize: readPositiveInt(env, "SHIPPING_DATABASE_POOL", 10),
    databaseStatementTimeoutMs: readPositiveInt(env, "DATABASE_STATEMENT_TIMEOUT_MS", defaultStatementTimeoutMs),
    tls: loadTlsConfig(env, readFile),
    auth,
    authDisabled: auth?.disabled ?? false,
    limits: readServerLimits(env),
    corsOrigins: readCorsOrigins(env),
    reflection: readSwitch(env, "REFLECTION", true),
    natsUrl: readNatsUrl(env),
    events: readEventFamily(env, "shipping"),
    orderEvents: readEventFamily(env, "orders"),
    streamLimits: readStreamLimits(env),
    outboxRetentionMs: readPositiveInt(env, "OUTBOX_RETENTION_MS", 60 * 60_000),
    outboxMaxAttempts: readPositiveInt(env, "OUTBOX_MAX_ATTEMPTS", 50),
    carrier: {
      pickupAfterMs: readDuration(env, "CARRIER_PICKUP_AFTER", undefined, { off: true }),
      deliverAfterMs: readDuration(env, "CARRIER_DELIVER_AFTER", undefined, { off: true }),
    },
  };
  // Without a certificate and a CA to verify clients, no caller could ever prove it is orders:
  // refusing to start beats a shipping that silently accepts nobody (or, worse, everybody).
  if (!config.authDisabled && !(config.tls.identity && config.tls.ca)) {
    throw new ConfigError(
      "shipping verifies orders' client certificate: set TLS_CERT_FILE, TLS_KEY_FILE and TLS_CA_FILE (or AUTH_DISABLED=true to let any caller create and cancel shipments)",
    );
  }
  return config;
}
