import { readAdvertisedHost } from "../platform/discovery/index.js";
import {
  ConfigError,
  type AuthConfig,
  type Env,
  readAuthConfig,
  readCorsOrigins,
  readGrpcTarget,
  readOptionalPort,
  readPort,
  readPositiveInt,
  readSecretKey,
  readServerLimits,
  readString,
  readSwitch,
  readUrl,
} from "../platform/process/index.js";
import { readEventFamily, readNatsUrl, readStreamLimits, type EventFamilyConfig, type EventStreamLimits } from "../platform/events/index.js";
import type { ServerLimits } from "../platform/rpc/index.js";
import { defaultStatementTimeoutMs } from "../platform/db/index.js";
import { readTelemetryConfig, type TelemetryConfig } from "../platform/telemetry/index.js";
import { loadTlsConfig, type ReadFile, type TlsConfig } from "../platform/identity/index.js";
import { maxDispatchBatch } from "./shipping-dispatcher.js";

/** Everything the orders process reads from its environment. */
export interface OrdersConfig {
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
  /** Port of the Prometheus GET /metrics listener (ORDERS_METRICS_PORT, default 9464); undefined when "off". */
  metricsPort: number | undefined;
  /**
   * OpenTelemetry traces (README "Traces"): the standard OTEL_SDK_DISABLED, OTEL_EXPORTER_OTLP_ENDPOINT /
   * OTEL_EXPORTER_OTLP_TRACES_ENDPOINT (unset: tracing off), OTEL_EXPORTER_OTLP_PROTOCOL (http/protobuf,
   * or http/json), OTEL_TRACES_SAMPLER (parentbased_traceidratio) and OTEL_TRACES_SAMPLER_ARG (1),
   * OTEL_SERVICE_NAME (default "orders"), OTEL_BSP_* (the span queue and export batch).
   */
  telemetry: TelemetryConfig;
  /** postgres:// URL of the orders database (created at start if missing). */
  databaseUrl: string;
  /** Connections in the database pool. */
  databasePoolSize: number;
  /** PostgreSQL statement_timeout of the pool (DATABASE_STATEMENT_TIMEOUT_MS); a longer statement fails its RPC with DEADLINE_EXCEEDED. */
  databaseStatementTimeoutMs: number;
  /** host:port of ShippingService (gRPC). */
  shippingAddr: string;
  /** nats:// URL of the JetStream server. */
  natsUrl: string;
  /** JetStream stream the outbox relay publishes to. */
  eventsStream: string;
  /** Subject prefix of order events ("orders" gives orders.created, orders.cancelled). */
  eventsSubjectPrefix: string;
  /** Retention of the event and dead-letter streams (EVENTS_MAX_AGE, EVENTS_MAX_BYTES, DEADLETTER_MAX_*). */
  streamLimits: EventStreamLimits;
  /** Deliveries of one orders.created event before shipping dispatch dead-letters it. */
  dispatchMaxDeliver: number;
  /** How long JetStream waits for dispatch to ack before redelivering (after a crash, say). */
  dispatchAckWaitMs: number;
  /** Upper bound of the delay between dispatch retries while shipping is unavailable. */
  dispatchMaxBackoffMs: number;
  /** orders.created events dispatched together (one claim, one CreateShipments, one record), 1 to 500. */
  dispatchBatchSize: number;
  /** Dispatch batches in flight at once. */
  dispatchBatchesInFlight: number;
  /** Set variables that no longer apply, with what replaced them (warned at start, not refused). */
  replacedVariables: string[];
  /** Shipping's event family (SHIPPING_EVENTS_STREAM, SHIPPING_EVENTS_SUBJECT_PREFIX): what shipment-tracking consumes. */
  shippingEvents: EventFamilyConfig;
  /** Shipping events shipment-tracking applies in one transaction. */
  shipmentTrackingBatchSize: number;
  /** shipment-tracking batches in flight at once (one order's events still one after another). */
  shipmentTrackingBatchesInFlight: number;
  /** Upper bound of the delay between CancelShipment retries while shipping is unavailable (retried forever). */
  shipmentCancelMaxBackoffMs: number;
  /** How long published outbox rows are kept before pruning (must outlast the JetStream duplicate window). */
  outboxRetentionMs: number;
  /** Failed publishes of one outbox row before the relay marks it failed and skips it. */
  outboxMaxAttempts: number;
  /** How OrderService callers' bearer tokens are verified (AUTH_*); required unless AUTH_DISABLED=true. */
  auth: AuthConfig;
  /** Serve grpc.reflection (REFLECTION, default on). */
  reflection: boolean;
  /** TLS of the listeners; its CA and certificate also secure and identify the calls to shipping. */
  tls: TlsConfig;
  /** Request size, connection, stream, timeout and in-flight limits (MAX_REQUEST_BYTES, MAX_IN_FLIGHT_CALLS, ...). */
  limits: ServerLimits;
  /** Origins whose pages may call the web port (CORS_ORIGINS). */
  corsOrigins: readonly string[];
  /** HMAC-SHA256 key signing ListOrders page tokens (PAGE_TOKEN_KEY, base64, at least 32 bytes); undefined: one per process. */
  pageTokenKey: Uint8Array | undefined;
  /** WatchOrder streams this process serves at once (MAX_WATCHERS); one more is RESOURCE_EXHAUSTED. */
  maxWatchers: number;
}

/** Reads and validates the orders configuration; throws ConfigError naming the bad variable. */
export function loadOrdersConfig(env: Env = process.env, readFile?: ReadFile): OrdersConfig {
  const orderEvents = readEventFamily(env, "orders");
  const bindHost = readString(env, "BIND_HOST", "127.0.0.1");
  return {
    bindHost,
    advertiseHost: readAdvertisedHost(env, bindHost),
    grpcPort: readPort(env, "ORDERS_PORT", 50051),
    healthPort: env.HEALTH_PORT ? readPort(env, "HEALTH_PORT", 0) : undefined,
    webPort: readOptionalPort(env, "ORDERS_WEB_PORT", 8081),
    metricsPort: readOptionalPort(env, "ORDERS_METRICS_PORT", 9464),
    telemetry: readTelemetryConfig(env, "orders"),
    databaseUrl: readUrl(env, "ORDERS_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/orders", ["postgres", "postgresql"]),
    databasePoolSize: readPositiveInt(env, "ORDERS_DATABASE_POOL", 10),
    databaseStatementTimeoutMs: readPositiveInt(env, "DATABASE_STATEMENT_TIMEOUT_MS", defaultStatementTimeoutMs),
    shippingAddr: readGrpcTarget(env, "SHIPPING_ADDR", "127.0.0.1:50052"),
    natsUrl: readNatsUrl(env),
    eventsStream: orderEvents.stream,
    eventsSubjectPrefix: orderEvents.subjectPrefix,
    streamLimits: readStreamLimits(env),
    dispatchMaxDeliver: readPositiveInt(env, "DISPATCH_MAX_DELIVER", 50),
    dispatchAckWaitMs: readPositiveInt(env, "DISPATCH_ACK_WAIT_MS", 30_000),
    dispatchMaxBackoffMs: readPositiveInt(env, "DISPATCH_MAX_BACKOFF_MS", 30_000),
    dispatchBatchSize: readDispatchBatchSize(env),
    dispatchBatchesInFlight: readPositiveInt(env, "DISPATCH_BATCHES_IN_FLIGHT", 2),
    replacedVariables: env.DISPATCH_CONCURRENCY === undefined ? [] : ["DISPATCH_CONCURRENCY no longer applies: dispatch runs in batches (DISPATCH_BATCH_SIZE, DISPATCH_BATCHES_IN_FLIGHT)"],
    shippingEvents: readEventFamily(env, "shipping"),
    shipmentTrackingBatchSize: readPositiveInt(env, "SHIPMENT_TRACKING_BATCH_SIZE", 100),
    shipmentTrackingBatchesInFlight: readPositiveInt(env, "SHIPMENT_TRACKING_BATCHES_IN_FLIGHT", 2),
    shipmentCancelMaxBackoffMs: readPositiveInt(env, "SHIPMENT_CANCEL_MAX_BACKOFF_MS", 30_000),
    outboxRetentionMs: readPositiveInt(env, "OUTBOX_RETENTION_MS", 60 * 60_000),
    outboxMaxAttempts: readPositiveInt(env, "OUTBOX_MAX_ATTEMPTS", 50),
    auth: readAuthConfig(env),
    reflection: readSwitch(env, "REFLECTION", true),
    tls: loadTlsConfig(env, readFile),
    limits: readServerLimits(env),
    corsOrigins: readCorsOrigins(env),
    pageTokenKey: readSecretKey(env, "PAGE_TOKEN_KEY", 32),
    maxWatchers: readPositiveInt(env, "MAX_WATCHERS", 1000),
  };
}

/** DISPATCH_BATCH_SIZE: one CreateShipments call carries the batch, so shipping's limit is ours. */
function readDispatchBatchSize(env: Env): number {
  const size = readPositiveInt(env, "DISPATCH_BATCH_SIZE", 100);
  if (size > maxDispatchBatch) throw new ConfigError(`DISPATCH_BATCH_SIZE must be at most ${maxDispatchBatch} (one CreateShipments call), got ${size}`);
  return size;
}
