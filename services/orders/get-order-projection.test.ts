import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createClient, type Client } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { OrderService, OrderStatus } from "../../gen/orders/v1/orders_pb.js";
import { ShipmentStatus } from "../../gen/shipping/v1/shipping_pb.js";
import { freePort } from "../mesh/ports.js";
import { createJetStreamFixture, TEST_NATS_URL, type JetStreamFixture } from "../../tests/support/jetstream-fixture.js";
import { validCreateOrder } from "../../tests/support/orders-fixture.js";
import { startServiceProcess, type ServiceProcess } from "../../tests/support/service-process.js";
import { movedOn, publishShippingEvent, shipmentOf, shippingEventFor } from "../../tests/support/shipping-events.js";
import { createTestDatabase, type TestDatabase } from "../../tests/support/test-database.js";
import { waitFor } from "../../tests/support/wait-for.js";

// The compiled orders process with no shipping anywhere (SHIPPING_ADDR is a closed port): GetOrder and
// ListOrders answer with the shipment orders learnt from shipping's events, from its own database.
let testDb: TestDatabase;
let ordersEvents: JetStreamFixture;
let shippingEvents: JetStreamFixture;
let proc: ServiceProcess;
let orders: Client<typeof OrderService>;

beforeAll(async () => {
  testDb = await createTestDatabase("orders_projection");
  ordersEvents = await createJetStreamFixture();
  shippingEvents = await createJetStreamFixture();
  proc = startServiceProcess("services/orders/main.js", {
    ORDERS_PORT: "0",
    ORDERS_WEB_PORT: "off",
    ORDERS_DATABASE_URL: testDb.url,
    SHIPPING_ADDR: `127.0.0.1:${await freePort()}`,
    NATS_URL: TEST_NATS_URL,
    EVENTS_STREAM: ordersEvents.stream,
    EVENTS_SUBJECT_PREFIX: ordersEvents.subjectPrefix,
    SHIPPING_EVENTS_STREAM: shippingEvents.stream,
    SHIPPING_EVENTS_SUBJECT_PREFIX: shippingEvents.subjectPrefix,
    AUTH_DISABLED: "true",
    LOG_LEVEL: "info",
  });
  const listening = await proc.waitForLog((l) => l.msg === "listening", "orders listening");
  await proc.waitForLog((l) => l.msg === "consuming" && l.consumer === "shipment-tracking", "shipment-tracking consuming");
  orders = createClient(OrderService, createGrpcTransport({ baseUrl: `http://127.0.0.1:${listening.grpcPort as number}` }));
}, 30_000);

afterAll(async () => {
  await proc?.stop("SIGTERM");
  await shippingEvents?.close();
  await ordersEvents?.close();
  await testDb?.drop();
});

describe("GetOrder while shipping is unreachable", () => {
  it("answers at once with the shipment from shipping's events: status, carrier, tracking number, update time, version", async () => {
    const { order: placed } = await orders.createOrder(validCreateOrder());
    const id = placed!.id;
    const created = shipmentOf(id);
    const pickedUp = movedOn(created, ShipmentStatus.PICKED_UP);
    await publishShippingEvent(shippingEvents.js, shippingEvents.subjectPrefix, shippingEventFor(created));
    await publishShippingEvent(shippingEvents.js, shippingEvents.subjectPrefix, shippingEventFor(pickedUp));

    const { order } = await waitFor(async () => {
      const res = await orders.getOrder({ id });
      return res.order?.status === OrderStatus.SHIPPED ? res : undefined;
    }, { what: "the order shipped" });
    expect(order?.shipment).toMatchObject({ id: created.id, status: ShipmentStatus.PICKED_UP, carrier: "DHL", trackingNumber: created.trackingNumber });
    expect(order?.shipment?.updateTime).toEqual(pickedUp.updateTime);
    expect(order?.shipmentId).toBe(created.id);
    // Placed (1), claimed by dispatch (+1, which keeps retrying shipping in the background), shipment created, shipped.
    expect(order?.version).toBeGreaterThanOrEqual(3n);

    // Every read is local: many GetOrder calls in a row, none waiting on the missing shipping.
    const started = performance.now();
    for (let i = 0; i < 20; i++) expect((await orders.getOrder({ id }, { timeoutMs: 1000 })).order?.shipment?.status).toBe(ShipmentStatus.PICKED_UP);
    expect(performance.now() - started).toBeLessThan(2000);

    const { orders: listed } = await orders.listOrders({ customerId: placed!.customerId });
    expect(listed.find((o) => o.id === id)).toMatchObject({ status: OrderStatus.SHIPPED, version: order!.version, shipment: { trackingNumber: created.trackingNumber } });
  });
});
