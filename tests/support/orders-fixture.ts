import { create, type MessageInitShape } from "@bufbuild/protobuf";
import type { HandlerContext } from "@connectrpc/connect";
import { type CreateOrderRequest, CreateOrderRequestSchema, OrderService } from "../../gen/orders/v1/orders_pb.js";
import type { Database } from "../../services/platform/database.js";
import * as schema from "../../services/orders/db/schema.js";
import { OrderStore } from "../../services/orders/order-store.js";
import { unauthenticatedAdmin, type Caller } from "../../services/platform/caller.js";
import { handlerContext } from "./handler-context.js";
import { createTestDatabase, type TestDatabase } from "./test-database.js";
import { openOrdersDatabase } from "../../services/orders/db/open-database.js";

/** A migrated, uniquely named orders database with its store. */
export interface OrdersDatabase {
  testDb: TestDatabase;
  database: Database<typeof schema>;
  store: OrderStore;
  close(): Promise<void>;
}

/** Creates and migrates a fresh orders database; close() drops it. */
export async function createOrdersDatabase(): Promise<OrdersDatabase> {
  const testDb = await createTestDatabase("orders_test");
  const database = await openOrdersDatabase(testDb.url, 8);
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
