import { ShippingService } from "../../gen/shipping/v1/shipping_pb.js";
import { openDatabase, redact } from "../platform/database.js";
import { createLogger } from "../platform/logger.js";
import { runProcess } from "../platform/process-lifecycle.js";
import { startServiceHost } from "../platform/service-host.js";
import { bindService } from "../platform/service-impl.js";
import { loadShippingConfig } from "./config.js";
import * as schema from "./db/schema.js";
import { ShipmentStore } from "./shipment-store.js";
import { createShippingService } from "./shipping-service.js";

const logger = createLogger("shipping");

await runProcess(logger, async () => {
  const config = loadShippingConfig();
  logger.info({ database: redact(config.databaseUrl) }, "starting");
  const database = await openDatabase({
    url: config.databaseUrl,
    schema,
    migrationsFolder: "services/shipping/db/migrations",
    migrationsTable: "__migrations_shipping",
    poolSize: config.databasePoolSize,
  });
  const host = await startServiceHost({
    logger,
    host: config.bindHost,
    grpcPort: config.grpcPort,
    webPort: config.webPort,
    services: [bindService(ShippingService, createShippingService(new ShipmentStore(database.db)))],
    healthChecks: [() => database.sql`select 1`],
  });
  return [() => host.stop(), () => database.close()];
});
