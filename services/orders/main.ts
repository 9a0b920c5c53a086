import { randomBytes } from "node:crypto";
import { OrderService } from "../../gen/orders/v1/orders_pb.js";
import { adminBinding, type AdminBinding } from "../platform/admin/index.js";
import { failedOutbox, redact, tracedStore } from "../platform/db/index.js";
import { announceReplica, createReplicaDiscovery, isNatsServiceTarget, replicaEndpoints } from "../platform/discovery/index.js";
import { ensureEventStreams, startEventSide, startOutboxRelay, type EventSide, type OutboxRelayOptions } from "../platform/events/index.js";
import { createCallerAuthenticator } from "../platform/identity/index.js";
import { startMetricsServer } from "../platform/metrics/index.js";
import { createLogger, runProcess } from "../platform/process/index.js";
import { bindService, startServiceHost } from "../platform/rpc/index.js";
import { startTelemetry } from "../platform/telemetry/index.js";
import { loadOrdersConfig, type OrdersConfig } from "./config.js";
import { outbox, outboxChannel } from "./db/schema.js";
import { createOrderService } from "./order-service.js";
import { OrderStore } from "./order-store.js";
import { createShippingClient, type ShippingClient } from "./shipping-client.js";
import { startShippingDispatcher } from "./shipping-dispatcher.js";
import { startShipmentCancellation } from "./shipment-cancellation.js";
import { startShipmentTracking } from "./shipment-tracking.js";
import { openOrdersDatabase } from "./db/open-database.js";
import { orderToProto } from "./order-mapping.js";
import { OrderWatchHub } from "./order-watch-hub.js";

const logger = createLogger("orders");

await runProcess(logger, async () => {
  const config = loadOrdersConfig();
  // First: every span, the servers' and consumers', needs the SDK in place when it starts.
  const telemetry = startTelemetry(config.telemetry, logger);
  const metrics = config.metricsPort === undefined ? undefined : await startMetricsServer({ host: config.bindHost, port: config.metricsPort, logger });
  logger.info({ database: redact(config.databaseUrl), shipping: config.shippingAddr, nats: config.natsUrl }, "starting");
  if (config.auth.disabled) logger.warn("AUTH_DISABLED=true: OrderService serves every caller without a token, as an admin");
  const authenticator = await createCallerAuthenticator(config.auth);
  const database = await openOrdersDatabase(config.databaseUrl, config.databasePoolSize, config.databaseStatementTimeoutMs);
  const store = tracedStore(new OrderStore(database.db, database.sql), database.location);
  // SHIPPING_ADDR=nats-service:///shipping: the shipping replicas registered on the NATS this process
  // connects to (the event side's connection, made below, used once a call needs it).
  const discovery = isNatsServiceTarget(config.shippingAddr) ? createReplicaDiscovery(() => events.connected, { logger }) : undefined;
  const shipping = createShippingClient({ addr: config.shippingAddr, logger, tls: config.tls, discovery });
  for (const replaced of config.replacedVariables) logger.warn(replaced);
  if (!config.pageTokenKey) logger.warn("PAGE_TOKEN_KEY is not set: page tokens are signed with a key of this process only and become invalid when it restarts");
  const pageTokenKey = config.pageTokenKey ?? randomBytes(32);
  // WatchOrder answers UNAVAILABLE until startEvents attaches the hub to the first NATS connection.
  const watchHub = new OrderWatchHub({
    subjectPrefix: config.eventsSubjectPrefix,
    maxWatchers: config.maxWatchers,
    readOrder: async (id) => {
      const order = await store.get(id);
      return order && orderToProto(order);
    },
    logger,
  });
  // Orders keep being accepted into the outbox while NATS is down, so health does not depend on it
  // and the event side starts whenever the first connection succeeds.
  // The operator's AdminService: this database's failed outbox rows and the mesh's dead letters.
  const admin = adminBinding({
    families: { orders: { stream: config.eventsStream, subjectPrefix: config.eventsSubjectPrefix }, shipping: config.shippingEvents },
    outbox: failedOutbox(database.db, outbox, outboxChannel),
  });
  const events = startEvents(config, database.sql, store, shipping, watchHub, admin);
  const host = await startServiceHost({
    logger,
    host: config.bindHost,
    grpcPort: config.grpcPort,
    healthPort: config.healthPort,
    limits: config.limits,
    corsOrigins: config.corsOrigins,
    webPort: config.webPort,
    services: [bindService(OrderService, createOrderService({ store, pageTokenKey, watchHub }), "customer-token"), admin.binding],
    authenticator,
    reflection: config.reflection,
    healthChecks: [() => database.ping()],
    tls: config.tls,
  });
  const replica = announceReplica(events.connected, "orders", replicaEndpoints(config.advertiseHost, { grpc: host.grpcPort, web: host.webPort, metrics: metrics?.port }), logger);
  return [
    // Leaves discovery first, so clients stop picking this replica while its in-flight calls finish.
    () => replica.stop(),
    () => host.stop(),
    async () => watchHub.close(),
    () => events.stop(),
    async () => {
      shipping.close();
      discovery?.close();
    },
    () => database.close(),
    async () => metrics?.stop(),
    // Telemetry last: the spans of everything that stopped before it are exported.
    () => telemetry.shutdown(),
  ];
});

/**
 * The event side: once NATS answers, the watch hub subscribes, the streams are declared, AdminService
 * reaches the dead letters, and the relay, dispatch, the shipment projection (shipment-tracking) and
 * the cancel saga (shipment-cancel) start.
 */
function startEvents(config: OrdersConfig, sql: OutboxRelayOptions["sql"], store: OrderStore, shipping: ShippingClient, watchHub: OrderWatchHub, admin: AdminBinding): EventSide {
  const orderEvents = { stream: config.eventsStream, subjectPrefix: config.eventsSubjectPrefix };
  return startEventSide({
    natsUrl: config.natsUrl,
    logger,
    name: "orders",
    onConnected: (nc) => watchHub.attach(nc),
    declare: (jsm) => ensureEventStreams(jsm, { ...orderEvents, limits: config.streamLimits }),
    async start(nc, jsm) {
      admin.attach(nc, jsm);
      const js = jsm.jetstream();
      const relay = await startOutboxRelay({
        sql,
        nc,
        logger,
        family: "orders",
        subjectPrefix: config.eventsSubjectPrefix,
        channel: outboxChannel,
        retentionMs: config.outboxRetentionMs,
        maxAttempts: config.outboxMaxAttempts,
      });
      const dispatcher = await startShippingDispatcher({
        js,
        jsm,
        stream: config.eventsStream,
        subjectPrefix: config.eventsSubjectPrefix,
        store,
        shipping,
        logger,
        maxDeliver: config.dispatchMaxDeliver,
        maxBackoffMs: config.dispatchMaxBackoffMs,
        ackWaitMs: config.dispatchAckWaitMs,
        batchSize: config.dispatchBatchSize,
        batchesInFlight: config.dispatchBatchesInFlight,
      });
      // shipment-tracking declares shipping's stream itself: orders may start before shipping.
      const tracking = await startShipmentTracking({ js, jsm, shipping: config.shippingEvents, streamLimits: config.streamLimits, store, logger, batchSize: config.shipmentTrackingBatchSize, batchesInFlight: config.shipmentTrackingBatchesInFlight });
      const cancelling = await startShipmentCancellation({ js, jsm, orders: orderEvents, store, shipping, logger, maxBackoffMs: config.shipmentCancelMaxBackoffMs });
      // Consumers stop before the relay, so events they write while finishing are still published.
      return [() => relay.stop(), () => Promise.all([dispatcher, tracking, cancelling].map((c) => c.stop()))];
    },
  });
}
