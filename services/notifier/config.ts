import { readAdvertisedHost } from "../platform/discovery/index.js";
import { ConfigError, type Env, readOptionalPort, readPort, readPositiveInt, readServerLimits, readString, readSwitch, readUrl } from "../platform/process/index.js";
import { readNatsUrl, readStreamLimits, type EventStreamLimits } from "../platform/events/index.js";
import { defaultStatementTimeoutMs } from "../platform/db/index.js";
import { readTelemetryConfig, type TelemetryConfig } from "../platform/telemetry/index.js";
import type { ServerLimits } from "../platform/rpc/index.js";
import { loadTlsConfig, type ReadFile, type TlsConfig } from "../platform/identity/index.js";

/** Everything the notifier process reads from its environment. */
export interface NotifierConfig {
  /** Interface the health/reflection listener binds to. */
  bindHost: string;
  /** Host the replica registers under in the NATS service API (ADVERTISE_HOST; default the bind host, or the hostname when that is a wildcard). */
  advertiseHost: string;
  /** gRPC port serving grpc.health.v1 and reflection. */
  grpcPort: number;
  /** Plaintext port with grpc.health.v1 alone, for the kubelet's native gRPC probe (HEALTH_PORT; default none). */
  healthPort: number | undefined;
  /** Port of the Prometheus GET /metrics listener (NOTIFIER_METRICS_PORT, default 9466); undefined when "off". */
  metricsPort: number | undefined;
  /**
   * OpenTelemetry traces (README "Traces"): the standard OTEL_SDK_DISABLED, OTEL_EXPORTER_OTLP_ENDPOINT /
   * OTEL_EXPORTER_OTLP_TRACES_ENDPOINT (unset: tracing off), OTEL_EXPORTER_OTLP_PROTOCOL (http/protobuf,
   * or http/json), OTEL_TRACES_SAMPLER (parentbased_traceidratio) and OTEL_TRACES_SAMPLER_ARG (1),
   * OTEL_SERVICE_NAME (default "notifier"), OTEL_BSP_* (the span queue and export batch).
   */
  telemetry: TelemetryConfig;
  /** postgres:// URL of the notifier database (created at start if missing). */
  databaseUrl: string;
  /** Connections in the database pool. */
  databasePoolSize: number;
  /** PostgreSQL statement_timeout of the pool (DATABASE_STATEMENT_TIMEOUT_MS); a claim waiting longer for another replica's batch is retried later. */
  databaseStatementTimeoutMs: number;
  /** nats:// URL of the JetStream server. */
  natsUrl: string;
  /** JetStream stream holding order events. */
  eventsStream: string;
  /** Subject prefix of order events. */
  eventsSubjectPrefix: string;
  /** smtp:// or smtps:// URL; undefined writes .eml files to emailDir instead. */
  smtpUrl: string | undefined;
  /** Sender address of the emails. */
  mailFrom: string;
  /** Folder for .eml files when smtpUrl is unset. */
  emailDir: string;
  /** Deadline of one email send (connect, greeting, transfer). */
  sendTimeoutMs: number;
  /** JetStream AckWait of the notifier consumer; longer than a send so a slow send is not redelivered. */
  ackWaitMs: number;
  /** Deliveries of one event before it goes to the dead letter. */
  maxDeliver: number;
  /** TLS of the health/reflection port. */
  tls: TlsConfig;
  /** Emails sent at once (SMTP connections); one order's events still go one after another. */
  concurrency: number;
  /** Events claimed per transaction. */
  batchSize: number;
  /** Batches in flight at once; each holds one pooled connection while its emails go out. */
  batchesInFlight: number;
  /** Retention of the order event streams (EVENTS_MAX_AGE, EVENTS_MAX_BYTES, DEADLETTER_MAX_*). */
  streamLimits: EventStreamLimits;
  /** Request size, connection, stream, timeout and in-flight limits of its health/reflection port. */
  limits: ServerLimits;
  /** Serve grpc.reflection (REFLECTION, default on). */
  reflection: boolean;
}

/** Reads and validates the notifier configuration; throws ConfigError naming the bad variable. */
export function loadNotifierConfig(env: Env = process.env, readFile?: ReadFile): NotifierConfig {
  const bindHost = readString(env, "BIND_HOST", "127.0.0.1");
  const config: NotifierConfig = {
    bindHost,
    advertiseHost: readAdvertisedHost(env, bindHost),
    grpcPort: readPort(env, "NOTIFIER_PORT", 50053),
    healthPort: env.HEALTH_PORT ? readPort(env, "HEALTH_PORT", 0) : undefined,
    metricsPort: readOptionalPort(env, "NOTIFIER_METRICS_PORT", 9466),
    telemetry: readTelemetryConfig(env, "notifier"),
    databaseUrl: readUrl(env, "NOTIFIER_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/notifier", ["postgres", "postgresql"]),
    databasePoolSize: readPositiveInt(env, "NOTIFIER_DATABASE_POOL", 10),
    databaseStatementTimeoutMs: readPositiveInt(env, "DATABASE_STATEMENT_TIMEOUT_MS", defaultStatementTimeoutMs),
    natsUrl: readNatsUrl(env),
    eventsStream: readString(env, "EVENTS_STREAM", "ORDERS"),
    eventsSubjectPrefix: readString(env, "EVENTS_SUBJECT_PREFIX", "orders"),
    smtpUrl: env.SMTP_URL ? readUrl(env, "SMTP_URL", "", ["smtp", "smtps"]) : undefined,
    mailFrom: readString(env, "MAIL_FROM", "ordermesh <orders@ordermesh.local>"),
    emailDir: readString(env, "EMAIL_DIR", ".data/emails"),
    sendTimeoutMs: readPositiveInt(env, "NOTIFIER_SEND_TIMEOUT_MS", 10_000),
    ackWaitMs: readPositiveInt(env, "NOTIFIER_ACK_WAIT_MS", 30_000),
    // With backoff capped at a minute, 20 deliveries ride out an SMTP outage of roughly 15 minutes.
    maxDeliver: readPositiveInt(env, "NOTIFIER_MAX_DELIVER", 20),
    tls: loadTlsConfig(env, readFile),
    concurrency: readPositiveInt(env, "NOTIFIER_CONCURRENCY", 8),
    batchSize: readPositiveInt(env, "NOTIFIER_BATCH_SIZE", 64),
    batchesInFlight: readPositiveInt(env, "NOTIFIER_BATCHES_IN_FLIGHT", 2),
    streamLimits: readStreamLimits(env),
    limits: readServerLimits(env),
    reflection: readSwitch(env, "REFLECTION", true),
  };
  // Every batch in flight keeps its claim transaction (one pooled connection) open while its emails go
  // out; one more connection serves the rest (marking dead-lettered events).
  if (config.databasePoolSize < config.batchesInFlight + 1) {
    throw new ConfigError(
      `NOTIFIER_DATABASE_POOL (${config.databasePoolSize}) must exceed NOTIFIER_BATCHES_IN_FLIGHT (${config.batchesInFlight}): each batch in flight holds a connection`,
    );
  }
  // The claim row is held locked during a send; a send outliving AckWait would be redelivered meanwhile.
  if (config.sendTimeoutMs + 1000 > config.ackWaitMs) {
    throw new ConfigError(`NOTIFIER_ACK_WAIT_MS (${config.ackWaitMs}) must exceed NOTIFIER_SEND_TIMEOUT_MS (${config.sendTimeoutMs}) by at least 1000`);
  }
  return config;
}
