import { randomBytes } from "node:crypto";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { OrderService } from "../../gen/orders/v1/orders_pb.js";
import { redact } from "../platform/db/index.js";
import type { DurableConsumer } from "../platform/events/index.js";
import { ensureEventStreams, startOutboxRelay, type OutboxRelay, type OutboxRelayOptions } from "../platform/events/index.js";
import { createCallerAuthenticator } from "../platform/identity/index.js";
import { createLogger } from "../platform/process/index.js";
import { connectNats, type NatsConnection } from "../platform/events/index.js";
import { runProcess } from "../platform/process/index.js";
import { startServiceHost } from "../platform/rpc/index.js";
import { bindService } from "../platform/rpc/index.js";
import { loadOrdersConfig, type OrdersConfig } from "./config.js";
import { outboxChannel } from "./db/schema.js";
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
  logger.info({ database: redact(config.databaseUrl), shipping: config.shippingAddr, nats: config.natsUrl }, "starting");
  if (config.auth.disabled) logger.warn("AUTH_DISABLED=true: OrderService serves every caller without a token, as an admin");
  const authenticator = await createCallerAuthenticator(config.auth);
  const database = await openOrdersDatabase(config.databaseUrl, config.databasePoolSize, config.databaseStatementTimeoutMs);
  const store = new OrderStore(database.db, database.sql);
  const shipping = createShippingClient({ addr: config.shippingAddr, logger, tls: config.tls });
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
  const events = startEvents(config, database.sql, store, shipping, watchHub);
  const host = await startServiceHost({
    logger,
    host: config.bindHost,
    grpcPort: config.grpcPort,
    limits: config.limits,
    corsOrigins: config.corsOrigins,
    webPort: config.webPort,
    services: [bindService(OrderService, createOrderService({ store, logger, pageTokenKey, watchHub }), "customer-token")],
    authenticator,
    reflection: config.reflection,
    healthChecks: [() => database.ping()],
    tls: config.tls,
  });
  return [() => host.stop(), () => events.then((e) => e.stop()), async () => shipping.close(), () => database.close()];
});

/**
 * Connects to NATS (retrying until it answers), attaches the watch hub, declares the streams, starts the
 * relay, dispatch, the shipment projection (shipment-tracking) and the cancel saga (shipment-cancel).
 */
async function startEvents(config: OrdersConfig, sql: OutboxRelayOptions["sql"], store: OrderStore, shipping: ShippingClient, watchHub: OrderWatchHub) {
  let nc: NatsConnection | undefined;
  let relay: OutboxRelay | undefined;
  const consumers: DurableConsumer[] = [];
  let stopping = false;
  const started = (async () => {
    nc = await connectNats(config.natsUrl, logger, "orders", { waitOnFirstConnect: true });
    await watchHub.attach(nc);
    const jsm = await jetstreamManager(nc);
    const js = jetstream(nc);
    await ensureEventStreams(jsm, { stream: config.eventsStream, subjectPrefix: config.eventsSubjectPrefix, limits: config.streamLimits });
    if (stopping) return;
    relay = await startOutboxRelay({
      sql,
      nc,
      logger,
      family: "orders",
      subjectPrefix: config.eventsSubjectPrefix,
      channel: outboxChannel,
      retentionMs: config.outboxRetentionMs,
      maxAttempts: config.outboxMaxAttempts,
    });
    const orderEvents = { stream: config.eventsStream, subjectPrefix: config.eventsSubjectPrefix };
    consumers.push(await startShippingDispatcher({
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
    }));
    // shipment-tracking declares shipping's stream itself: orders may start before shipping.
    consumers.push(await startShipmentTracking({ js, jsm, shipping: config.shippingEvents, streamLimits: config.streamLimits, store, logger, batchSize: config.shipmentTrackingBatchSize, batchesInFlight: config.shipmentTrackingBatchesInFlight }));
    consumers.push(await startShipmentCancellation({ js, jsm, orders: orderEvents, store, shipping, logger, maxBackoffMs: config.shipmentCancelMaxBackoffMs }));
  })().catch((err: unknown) => {
    logger.fatal({ err }, "event side failed to start");
    process.exit(1);
  });
  return {
    async stop() {
      stopping = true;
      watchHub.close();
      if (!nc) return; // never connected: nothing to drain, the outbox keeps the events
      await started;
      await Promise.all(consumers.map((c) => c.stop()));
      await relay?.stop();
      await nc.drain();
    },
  };
}
