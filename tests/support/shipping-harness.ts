import { randomUUID } from "node:crypto";
import type { MessageInitShape } from "@bufbuild/protobuf";
import { type ShipmentItemSchema, type ShippingAddressSchema, ShippingService } from "../../gen/shipping/v1/shipping_pb.js";
import type { Database } from "../../services/platform/db/index.js";
import { createLogger } from "../../services/platform/process/index.js";
import { startServiceHost, type ServiceHost } from "../../services/platform/rpc/index.js";
import type { CallerAuthenticator } from "../../services/platform/identity/index.js";
import { bindService } from "../../services/platform/rpc/index.js";
import * as schema from "../../services/shipping/db/schema.js";
import { ShipmentStore } from "../../services/shipping/shipment-store.js";
import { allowAnyCaller, type ShippingAccess } from "../../services/shipping/shipping-access.js";
import { createShippingService } from "../../services/shipping/shipping-service.js";
import type { TlsConfig } from "../../services/platform/identity/index.js";

/** A logger that writes nothing, so test output stays readable; set TEST_LOG_LEVEL=debug to see it. */
export const testLogger = createLogger("test", process.env.TEST_LOG_LEVEL ?? "silent");


/** The shipping service's servers over a database, as main.ts wires them but on ephemeral ports. */
export interface ShippingServers {
  host: ServiceHost;
  store: ShipmentStore;
  grpcAddress: string;
  webUrl: string;
}

/** Starts ShippingService with health, reflection and the web port on 127.0.0.1 ephemeral ports. */
export async function startShippingServers(
  database: Database<typeof schema>,
  options: {
    healthIntervalMs?: number;
    corsOrigins?: string[];
    shutdownGraceMs?: number;
    grpcPort?: number;
    tls?: TlsConfig;
    access?: ShippingAccess;
    /** Verifies customers' bearer tokens, as shipping's main does when AUTH_* is set. */
    authenticator?: CallerAuthenticator;
  } = {},
): Promise<ShippingServers> {
  const store = new ShipmentStore(database.db);
  const { access = allowAnyCaller, ...hostOptions } = options;
  const host = await startServiceHost({
    logger: testLogger,
    host: "127.0.0.1",
    grpcPort: 0,
    webPort: 0,
    services: [bindService(ShippingService, createShippingService(store, access), "customer-token-if-sent")],
    healthChecks: [() => database.ping()],
    ...hostOptions,
  });
  const scheme = options.tls?.identity && !options.tls.webPlaintext ? "https" : "http";
  return { host, store, grpcAddress: `127.0.0.1:${host.grpcPort}`, webUrl: `${scheme}://127.0.0.1:${host.webPort}` };
}

/** A CreateShipment request as plain fields (what every client library accepts). */
export interface ShipmentRequestInit {
  orderId?: string;
  address?: MessageInitShape<typeof ShippingAddressSchema> | undefined;
  items?: MessageInitShape<typeof ShipmentItemSchema>[];
}

/** A valid CreateShipment request for a fresh order; override fields to make it invalid. */
export function shipmentRequest(overrides: ShipmentRequestInit = {}): ShipmentRequestInit & { orderId: string } {
  return {
    orderId: randomUUID(),
    address: { name: "Ada Lovelace", line1: "12 St James's Square", line2: "", city: "London", postalCode: "SW1Y 4JH", country: "GB" },
    items: [{ sku: "BOOK-1", quantity: 2 }],
    ...overrides,
  };
}
