import { setTimeout as sleep } from "node:timers/promises";
import type { Sql } from "postgres";
import { jetstreamManager } from "@nats-io/jetstream";
import { ShippingService } from "../../gen/shipping/v1/shipping_pb.js";
import { redact } from "../platform/db/index.js";
import { connectNats, ensureEventStreams, startOutboxRelay, type NatsConnection, type OutboxRelay } from "../platform/events/index.js";
import { createCallerAuthenticator } from "../platform/identity/index.js";
import { createLogger, exponentialBackoff } from "../platform/process/index.js";
import { runProcess } from "../platform/process/index.js";
import { startServiceHost } from "../platform/rpc/index.js";
import { bindService } from "../platform/rpc/index.js";
import { carrierIsOn, carrierSchedule, startCarrierSimulator } from "./carrier-simulator.js";
import { loadShippingConfig, type ShippingConfig } from "./config.js";
import { outboxChannel } from "./db/schema.js";
import { ShipmentStore } from "./shipment-store.js";
import { allowAnyCaller, serviceIdentityAccess } from "./shipping-access.js";
import { createShippingService } from "./shipping-service.js";
import { openShippingDatabase } from "./db/open-database.js";

const logger = createLogger("shipping");

await runProcess(logger, async () => {
  const config = loadShippingConfig();
  logger.info({ database: redact(config.databaseUrl), nats: config.natsUrl, carrier: config.carrier }, "starting");
  if (config.authDisabled) logger.warn("AUTH_DISABLED=true: any caller may create, cancel, move and read any shipment");
  const database = await openShippingDatabase(config.databaseUrl, config.databasePoolSize, config.databaseStatementTimeoutMs);
  // Customers may read their own shipments with the same tokens OrderService takes, when AUTH_* is set.
  const authenticator = config.auth && !config.auth.disabled ? await createCallerAuthenticator(config.auth) : undefined;
  const store = new ShipmentStore(database.db, { schedule: carrierSchedule(config.carrier) });
  const carrier = carrierIsOn(config.carrier) ? startCarrierSimulator({ store, logger }) : undefined;
  // Changes keep being committed into the outbox while NATS is down, so health does not depend on it
  // and the relay starts whenever the first connection succeeds.
  const events = startEvents(config, database.sql);
  const host = await startServiceHost({
    logger,
    host: config.bindHost,
    grpcPort: config.grpcPort,
    limits: config.limits,
    corsOrigins: config.corsOrigins,
    webPort: config.webPort,
    services: [bindService(ShippingService, createShippingService(store, config.authDisabled ? allowAnyCaller : serviceIdentityAccess()), "customer-token-if-sent")],
    authenticator,
    reflection: config.reflection,
    healthChecks: [() => database.ping()],
    tls: config.tls,
  });
  return [() => host.stop(), async () => carrier?.stop(), () => events.stop(), () => database.close()];
});

/** Connects to NATS (retrying until it answers), declares the SHIPPING streams and starts the outbox relay. */
function startEvents(config: ShippingConfig, sql: Sql) {
  let nc: NatsConnection | undefined;
  let relay: OutboxRelay | undefined;
  let stopping = false;
  const started = (async () => {
    nc = await connectNats(config.natsUrl, logger, "shipping", { waitOnFirstConnect: true });
    const jsm = await jetstreamManager(nc);
    // NATS may go again right after the first connection: keep trying rather than stop serving.
    const backoff = exponentialBackoff({ initialMs: 500, maxMs: 10_000 });
    for (let attempt = 1; !stopping; attempt++) {
      try {
        await ensureEventStreams(jsm, { ...config.events, limits: config.streamLimits });
        break;
      } catch (err) {
        const retryInMs = backoff(attempt);
        logger.warn({ err: err instanceof Error ? err.message : String(err), retryInMs }, "could not declare the event streams; will retry");
        await sleep(retryInMs);
      }
    }
    if (stopping) return;
    relay = await startOutboxRelay({
      sql,
      nc,
      logger,
      family: "shipping",
      subjectPrefix: config.events.subjectPrefix,
      channel: outboxChannel,
      retentionMs: config.outboxRetentionMs,
      maxAttempts: config.outboxMaxAttempts,
    });
  })().catch((err: unknown) => {
    logger.fatal({ err }, "event side failed to start");
    process.exit(1);
  });
  return {
    async stop() {
      stopping = true;
      if (!nc) return; // never connected: nothing to drain, the outbox keeps the events
      await started;
      await relay?.stop();
      await nc.drain();
    },
  };
}
