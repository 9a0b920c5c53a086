import type { Sql } from "postgres";
import { ShippingService } from "../../gen/shipping/v1/shipping_pb.js";
import { adminBinding, type AdminBinding } from "../platform/admin/index.js";
import { failedOutbox, redact, tracedStore } from "../platform/db/index.js";
import { announceReplica, replicaEndpoints } from "../platform/discovery/index.js";
import { ensureEventStreams, startEventSide, startOutboxRelay, type EventSide } from "../platform/events/index.js";
import { createCallerAuthenticator } from "../platform/identity/index.js";
import { startMetricsServer } from "../platform/metrics/index.js";
import { createLogger, runProcess } from "../platform/process/index.js";
import { bindService, startServiceHost } from "../platform/rpc/index.js";
import { startTelemetry } from "../platform/telemetry/index.js";
import { carrierIsOn, carrierSchedule, startCarrierSimulator } from "./carrier-simulator.js";
import { loadShippingConfig, type ShippingConfig } from "./config.js";
import { outbox, outboxChannel } from "./db/schema.js";
import { ShipmentStore } from "./shipment-store.js";
import { allowAnyCaller, serviceIdentityAccess } from "./shipping-access.js";
import { createShippingService } from "./shipping-service.js";
import { openShippingDatabase } from "./db/open-database.js";

const logger = createLogger("shipping");

await runProcess(logger, async () => {
  const config = loadShippingConfig();
  // First: every span, the servers' and the carrier's, needs the SDK in place when it starts.
  const telemetry = startTelemetry(config.telemetry, logger);
  const metrics = config.metricsPort === undefined ? undefined : await startMetricsServer({ host: config.bindHost, port: config.metricsPort, logger });
  logger.info({ database: redact(config.databaseUrl), nats: config.natsUrl, carrier: config.carrier }, "starting");
  if (config.authDisabled) logger.warn("AUTH_DISABLED=true: any caller may create, cancel, move and read any shipment");
  const database = await openShippingDatabase(config.databaseUrl, config.databasePoolSize, config.databaseStatementTimeoutMs);
  // Customers may read their own shipments with the same tokens OrderService takes, and admins call
  // AdminService, when AUTH_* is set. AUTH_DISABLED=true makes every caller an admin, as on orders.
  const authenticator = config.auth ? await createCallerAuthenticator(config.auth) : undefined;
  const store = tracedStore(new ShipmentStore(database.db, { schedule: carrierSchedule(config.carrier) }), database.location);
  const carrier = carrierIsOn(config.carrier) ? startCarrierSimulator({ store, logger }) : undefined;
  // Changes keep being committed into the outbox while NATS is down, so health does not depend on it
  // and the relay starts whenever the first connection succeeds.
  // The operator's AdminService: this database's failed outbox rows and the mesh's dead letters.
  const admin = adminBinding({ families: { orders: config.orderEvents, shipping: config.events }, outbox: failedOutbox(database.db, outbox, outboxChannel) });
  const events = startEvents(config, database.sql, admin);
  const host = await startServiceHost({
    logger,
    host: config.bindHost,
    grpcPort: config.grpcPort,
    healthPort: config.healthPort,
    limits: config.limits,
    corsOrigins: config.corsOrigins,
    webPort: config.webPort,
    services: [bindService(ShippingService, createShippingService(store, config.authDisabled ? allowAnyCaller : serviceIdentityAccess()), "customer-token-if-sent"), admin.binding],
    authenticator,
    reflection: config.reflection,
    healthChecks: [() => database.ping()],
    tls: config.tls,
  });
  const replica = announceReplica(events.connected, "shipping", replicaEndpoints(config.advertiseHost, { grpc: host.grpcPort, web: host.webPort, metrics: metrics?.port }), logger);
  // Leaves discovery first, so orders stops picking this replica while its in-flight calls finish;
  // telemetry last, so the spans of everything that stopped before it are exported.
  return [() => replica.stop(), () => host.stop(), async () => carrier?.stop(), () => events.stop(), () => database.close(), async () => metrics?.stop(), () => telemetry.shutdown()];
});

/** The event side: once NATS answers, the SHIPPING streams are declared, AdminService reaches the dead letters and the outbox relay starts. */
function startEvents(config: ShippingConfig, sql: Sql, admin: AdminBinding): EventSide {
  return startEventSide({
    natsUrl: config.natsUrl,
    logger,
    name: "shipping",
    declare: (jsm) => ensureEventStreams(jsm, { ...config.events, limits: config.streamLimits }),
    async start(nc, jsm) {
      admin.attach(nc, jsm);
      const relay = await startOutboxRelay({
        sql,
        nc,
        logger,
        family: "shipping",
        subjectPrefix: config.events.subjectPrefix,
        channel: outboxChannel,
        retentionMs: config.outboxRetentionMs,
        maxAttempts: config.outboxMaxAttempts,
      });
      return [() => relay.stop()];
    },
  });
}
