import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Code, ConnectError, createClient, type Client } from "@connectrpc/connect";
import { CircuitState } from "cockatiel";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { ShipmentStatus } from "../../gen/shipping/v1/shipping_pb.js";
import { OrderService } from "../../gen/orders/v1/orders_pb.js";
import type { ServiceHost } from "../platform/rpc/index.js";
import { createOrdersDatabase, startOrdersHost, validCreateOrder, type OrdersDatabase } from "../../tests/support/orders-fixture.js";
import { startShippingServers, testLogger, type ShippingServers } from "../../tests/support/shipping-harness.js";
import { openShippingDatabase } from "../shipping/db/open-database.js";
import { createTestDatabase, type TestDatabase } from "../../tests/support/test-database.js";
import { waitFor } from "../../tests/support/wait-for.js";
import { createShippingClient, type ShippingClient } from "./shipping-client.js";

// GetOrder over the network while the shipping server stops and comes back on the same port: the
// enrichment must never make GetOrder fail or hang, and the breaker must open during the outage and close after.
let ordersDb: OrdersDatabase;
let shippingDb: TestDatabase;
let shippingServers: ShippingServers;
let closeShippingDb: () => Promise<void>;
let startShipping: () => Promise<void>;
let shippingPort: number;
let shipping: ShippingClient;
let ordersHost: ServiceHost;
let orders: Client<typeof OrderService>;

beforeAll(async () => {
  ordersDb = await createOrdersDatabase();
  shippingDb = await createTestDatabase("enrich_shipping");
  const database = await openShippingDatabase(shippingDb.url, 5);
  closeShippingDb = () => database.close();
  shippingServers = await startShippingServers(database);
  shippingPort = shippingServers.host.grpcPort;
  startShipping = async () => {
    shippingServers = await startShippingServers(database, { grpcPort: shippingPort });
  };
  shipping = createShippingClient({ addr: `127.0.0.1:${shippingPort}`, logger: testLogger, breakerThreshold: 3, halfOpenAfterMs: 300 });
  // Auth is not what these tests are about: AUTH_DISABLED's stand-in admin is the caller.
  ordersHost = await startOrdersHost(ordersDb.store, { shipping, webPort: undefined });
  orders = createClient(OrderService, createGrpcTransport({ baseUrl: `http://127.0.0.1:${ordersHost.grpcPort}` }));
});

afterAll(async () => {
  await ordersHost?.stop();
  await shippingServers?.host.stop();
  await closeShippingDb?.();
  await shippingDb?.drop();
  await ordersDb?.close();
});

/** An order whose shipment exists in shipping, as dispatch leaves it. */
async function shippedOrder(): Promise<string> {
  const { order } = await orders.createOrder(validCreateOrder());
  const shipment = await shippingServers.store.createOnce({
    orderId: order!.id,
    address: { name: "A", line1: "B", line2: "", city: "C", postalCode: "D", country: "GB" },
    items: [{ sku: "SKU-1", quantity: 1 }],
  });
  await ordersDb.store.claimForDispatch(order!.id);
  await ordersDb.store.recordShipment(order!.id, shipment.row.id);
  return order!.id;
}

describe("GetOrder enrichment from shipping", () => {
  it("fills the shipment while shipping answers", async () => {
    const id = await shippedOrder();
    const { order } = await orders.getOrder({ id });
    expect(order?.shipment?.status).toBe(ShipmentStatus.PENDING);
    expect(order?.shipment?.id).toBe(order?.shipmentId);
  });

  it("answers promptly without the shipment while shipping is down, opens the breaker, and closes it after", async () => {
    const id = await shippedOrder();
    await shippingServers.host.stop();
    for (let i = 0; i < 4; i++) {
      const started = performance.now();
      const { order } = await orders.getOrder({ id }, { timeoutMs: 2000 });
      expect(order?.id).toBe(id);
      expect(order?.shipment).toBeUndefined();
      // Two attempts of at most 300 ms plus backoff: well under a second, never the caller's 2 s deadline.
      expect(performance.now() - started).toBeLessThan(1000);
    }
    expect(shipping.reads.breaker.state).toBe(CircuitState.Open);
    // While open, shipping is not even tried: the answer comes at once.
    const failFast = await shipping.reads.call(() => Promise.resolve("tried")).catch((e: unknown) => e);
    expect(failFast).toBeInstanceOf(ConnectError);
    expect((failFast as ConnectError).code).toBe(Code.Unavailable);

    await startShipping();
    const { order } = await waitFor(async () => {
      const res = await orders.getOrder({ id });
      return res.order?.shipment ? res : undefined;
    }, { what: "shipment back after the outage" });
    expect(order?.shipment?.id).toBe(order?.shipmentId);
    expect(shipping.reads.breaker.state).toBe(CircuitState.Closed);
  });

  it("honours a caller deadline shorter than the enrichment budget", async () => {
    const id = await shippedOrder();
    await shippingServers.host.stop();
    try {
      const started = performance.now();
      const result = await orders.getOrder({ id }, { timeoutMs: 150 }).catch((e: unknown) => e);
      // Either the order without shipment or DEADLINE_EXCEEDED, but never later than the deadline allows.
      expect(performance.now() - started).toBeLessThan(600);
      if (result instanceof ConnectError) expect(result.code).toBe(Code.DeadlineExceeded);
      else expect((result as { order?: { id: string } }).order?.id).toBe(id);
    } finally {
      await startShipping();
    }
  });
});
