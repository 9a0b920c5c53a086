import { jetstreamManager } from "@nats-io/jetstream";
import { announceReplica, replicaEndpoints } from "../platform/discovery/index.js";
import { redact, tracedStore } from "../platform/db/index.js";
import { startMetricsServer } from "../platform/metrics/index.js";
import { createLogger } from "../platform/process/index.js";
import { checkNats, connectNats, untilJetStreamAnswers } from "../platform/events/index.js";
import { runProcess } from "../platform/process/index.js";
import { startServiceHost } from "../platform/rpc/index.js";
import { startTelemetry } from "../platform/telemetry/index.js";
import { loadNotifierConfig } from "./config.js";
import * as schema from "./db/schema.js";
import { createMailer } from "./mailer.js";
import { NotificationStore } from "./notification-store.js";
import { startOrderEventsConsumer } from "./order-events-consumer.js";
import { openNotifierDatabase } from "./db/open-database.js";

const logger = createLogger("notifier");

await runProcess(logger, async () => {
  const config = loadNotifierConfig();
  // First: every span, the consumer's and the mailer's, needs the SDK in place when it starts.
  const telemetry = startTelemetry(config.telemetry, logger);
  const metrics = config.metricsPort === undefined ? undefined : await startMetricsServer({ host: config.bindHost, port: config.metricsPort, logger });
  logger.info({ database: redact(config.databaseUrl), nats: config.natsUrl, stream: config.eventsStream }, "starting");
  const database = await openNotifierDatabase(config.databaseUrl, config.databasePoolSize, config.databaseStatementTimeoutMs);
  const mailer = await createMailer({
    smtpUrl: config.smtpUrl,
    from: config.mailFrom,
    emailDir: config.emailDir,
    timeoutMs: config.sendTimeoutMs,
    maxConnections: config.concurrency,
    logger,
  });
  const nc = await connectNats(config.natsUrl, logger, "notifier");
  const jsm = await untilJetStreamAnswers("connecting to JetStream", () => jetstreamManager(nc), logger);
  const consumer = await startOrderEventsConsumer({
    js: jsm.jetstream(),
    jsm,
    stream: config.eventsStream,
    subjectPrefix: config.eventsSubjectPrefix,
    store: tracedStore(new NotificationStore(database.db, database.sql), database.location),
    mailer,
    logger,
    ackWaitMs: config.ackWaitMs,
    sendTimeoutMs: config.sendTimeoutMs,
    maxDeliver: config.maxDeliver,
    concurrency: config.concurrency,
    batchSize: config.batchSize,
    batchesInFlight: config.batchesInFlight,
    streamLimits: config.streamLimits,
  });
  // No RPCs of its own: the port serves grpc.health.v1 and reflection only.
  const host = await startServiceHost({
    logger,
    host: config.bindHost,
    grpcPort: config.grpcPort,
    healthPort: config.healthPort,
    limits: config.limits,
    reflection: config.reflection,
    services: [],
    tls: config.tls,
    healthChecks: [
      () => database.ping(),
      () => checkNats(nc),
      async () => {
        if (!consumer.isAlive()) throw new Error("order events consumer not attached");
      },
    ],
  });
  const replica = announceReplica(Promise.resolve(nc), "notifier", replicaEndpoints(config.advertiseHost, { grpc: host.grpcPort, metrics: metrics?.port }), logger);
  return [
    () => replica.stop(),
    () => host.stop(),
    () => consumer.stop(),
    () => nc.drain(),
    () => database.close(),
    async () => mailer.close(),
    async () => metrics?.stop(),
    // Last: the spans of everything that stopped before it are exported.
    () => telemetry.shutdown(),
  ];
});
