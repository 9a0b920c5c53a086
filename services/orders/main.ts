import { OrderService } from "../../gen/orders/v1/orders_pb.js";
import { openDatabase, redact } from "../platform/database.js";
import { createLogger } from "../platform/logger.js";
import { runProcess } from "../platform/process-lifecycle.js";
import { startServiceHost } from "../platform/service-host.js";
import { bindService } from "../platform/service-impl.js";
import { loadOrdersConfig } from "./config.js";
import * as schema from "./db/schema.js";
import { createOrderService } from "./order-service.js";
import { OrderStore } from "./order-store.js";
import { createShippingClient } from "./shipping-client.js";

const logger = createLogger("orders");

await runProcess(logger, async () => {
  const config = loadOrdersConfig();
  logger.info({ database: redact(config.databaseUrl), shipping: config.shippingAddr }, "starting");
  const database = await openDatabase({
    url: config.databaseUrl,
    schema,
    migrationsFolder: "services/orders/db/migrations",
    migrationsTable: "__migrations_orders",
    poolSize: config.databasePoolSize,
  });
  const store = new OrderStore(database.db, database.sql);
  const shipping = createShippingClient({ addr: config.shippingAddr, logger });
  const host = await startServiceHost({
    logger,
    host: config.bindHost,
    grpcPort: config.grpcPort,
    webPort: config.webPort,
    services: [bindService(OrderService, createOrderService({ store, shipping, logger }))],
    healthChecks: [() => database.sql`select 1`],
  });
  return [() => host.stop(), () => database.close()];
});
