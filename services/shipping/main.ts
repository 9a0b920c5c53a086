import { ShippingService } from "../../gen/shipping/v1/shipping_pb.js";
import { redact } from "../platform/db/index.js";
import { createCallerAuthenticator } from "../platform/identity/index.js";
import { createLogger } from "../platform/process/index.js";
import { runProcess } from "../platform/process/index.js";
import { startServiceHost } from "../platform/rpc/index.js";
import { bindService } from "../platform/rpc/index.js";
import { loadShippingConfig } from "./config.js";
import * as schema from "./db/schema.js";
import { ShipmentStore } from "./shipment-store.js";
import { allowAnyCaller, serviceIdentityAccess } from "./shipping-access.js";
import { createShippingService } from "./shipping-service.js";
import { openShippingDatabase } from "./db/open-database.js";

const logger = createLogger("shipping");

await runProcess(logger, async () => {
  const config = loadShippingConfig();
  logger.info({ database: redact(config.databaseUrl) }, "starting");
  if (config.authDisabled) logger.warn("AUTH_DISABLED=true: any caller may create, cancel and read any shipment");
  const database = await openShippingDatabase(config.databaseUrl, config.databasePoolSize);
  // Customers may read their own shipments with the same tokens OrderService takes, when AUTH_* is set.
  const authenticator = config.auth && !config.auth.disabled ? await createCallerAuthenticator(config.auth) : undefined;
  const host = await startServiceHost({
    logger,
    host: config.bindHost,
    grpcPort: config.grpcPort,
    limits: config.limits,
    corsOrigins: config.corsOrigins,
    webPort: config.webPort,
    services: [
      bindService(
        ShippingService,
        createShippingService(new ShipmentStore(database.db), config.authDisabled ? allowAnyCaller : serviceIdentityAccess()),
        "customer-token-if-sent",
      ),
    ],
    authenticator,
    reflection: config.reflection,
    healthChecks: [() => database.ping()],
    tls: config.tls,
  });
  return [() => host.stop(), () => database.close()];
});
