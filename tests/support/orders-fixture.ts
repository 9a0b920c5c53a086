import { create, type MessageInitShape } from "@bufbuild/protobuf";
import type { HandlerContext } from "@connectrpc/connect";
import { type CreateOrderRequest, CreateOrderRequestSchema, OrderService } from "../../gen/orders/v1/orders_pb.js";
import type { Database } from "../../services/platform/db/index.js";
import * as schema from "../../services/orders/db/schema.js";
import { OrderStore } from "../../services/orders/order-store.js";
import { unauthenticatedAdmin, type Caller } from "../../services/platform/identity/index.js";
import { createCallerAuthenticator, type CallerAuthenticator } from "../../services/platform/identity/index.js";
import { startServiceHost, type ServiceHost } from "../../services/platform/rpc/index.js";
import { bindService } from "../../services/platform/rpc/index.js";
import { createOrderService } from "../../services/orders/order-service.js";
import type { OrderWatchHub } from "../../services/orders/order-watch-hub.js";
import { testLogger } from "./shipping-harness.js";
import { handlerContext } from "./handler-context.js";
import { createTestDatabase, type TestDatabase } from "./test-database.js";
import { openOrdersDatabase } from "../../services/orders/db/open-database.js";
import { rpcPaths, type RpcPath } from "./rpc-paths.js";

/** A migrated, uniquely named orders database with its store. */
export interface OrdersDatabase {
  testDb: TestDatabase;
  database: Database<typeof schema>;
  store: OrderStore;
  close(): Promise<void>;
}

/** Creates and migrates a fresh orders database; close() drops it. */
export async function createOrdersDatabase(options: { statementTimeoutMs?: number } = {}): Promise<OrdersDatabase> {
  const testDb = await createTestDatabase("orders_test");
  const database = await openOrdersDatabase(testDb.url, 8, options.statementTimeoutMs);
  return {
    testDb,
    database,
    store: new OrderStore(database.db, database.sql),
    async close() {
      await database.close();
      await testDb.drop();
    },
  };
}

/**
 * A handler context for calling an OrderService method directly, as `caller` (default: an admin, so a
 * test may act for any customer it names; per-customer rules are tested with customer callers).
 */
export function orderContext(method: keyof typeof OrderService.method, signal?: AbortSignal, caller: Caller = unauthenticatedAdmin): HandlerContext {
  return handlerContext(OrderService, method, signal, caller);
}

/** A valid CreateOrderRequest; override fields to make it invalid or distinct. */
export function validCreateOrder(overrides: MessageInitShape<typeof CreateOrderRequestSchema> = {}): CreateOrderRequest {
  const base: MessageInitShape<typeof CreateOrderRequestSchema> = {
    customerId: "cust-1",
    customerEmail: "ada@example.com",
    currency: "EUR",
    items: [
      { sku: "SKU-1", quantity: 2, unitPriceCents: 1250n },
      { sku: "SKU-2", quantity: 1, unitPriceCents: 499n },
    ],
    shippingAddress: { name: "Ada Lovelace", line1: "1 Analytical St", city: "London", postalCode: "N1 9GU", country: "GB" },
  };
  return create(CreateOrderRequestSchema, { ...base, ...overrides } as MessageInitShape<typeof CreateOrderRequestSchema>);
}

/**
 * OrderService on a real host (gRPC and web port 0) as orders' main binds it ("customer-token"); by
 * default with AUTH_DISABLED's stand-in admin as every caller.
 */
export async function startOrdersHost(
  store: OrderStore,
  options: {
    authenticator?: CallerAuthenticator;
    webPort?: number | undefined;
    reflection?: boolean;
    pageTokenKey?: Uint8Array;
    /** Feeds WatchOrder; without one WatchOrder is UNIMPLEMENTED. */
    watchHub?: OrderWatchHub;
    shutdownGraceMs?: number;
  } = {},
): Promise<ServiceHost> {
  return startServiceHost({
    logger: testLogger,
    host: "127.0.0.1",
    grpcPort: 0,
    webPort: "webPort" in options ? options.webPort : 0,
    services: [bindService(OrderService, createOrderService({ store, pageTokenKey: options.pageTokenKey, watchHub: options.watchHub }), "customer-token")],
    authenticator: options.authenticator ?? (await createCallerAuthenticator({ disabled: true })),
    reflection: options.reflection,
    healthChecks: [],
    shutdownGraceMs: options.shutdownGraceMs,
  });
}

/** OrderService on a fresh database, served on ephemeral ports, with a client on every path. */
export interface ServedOrders {
  db: OrdersDatabase;
  host: ServiceHost;
  paths: RpcPath[];
  close(): Promise<void>;
}

/** Serves OrderService over a fresh orders database (AUTH_DISABLED's admin as caller). */
export async function serveOrders(options: { pageTokenKey?: Uint8Array } = {}): Promise<ServedOrders> {
  const db = await createOrdersDatabase();
  const host = await startOrdersHost(db.store, options);
  const paths = rpcPaths(host.grpcPort, host.webPort!);
  return {
    db,
    host,
    paths,
    async close() {
      paths.forEach((p) => p.close());
      await host.stop();
      await db.close();
    },
  };
}
