import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { create } from "@bufbuild/protobuf";
import { Code } from "@connectrpc/connect";
import { CancelOrderRequestSchema, OrderStatus } from "../../gen/orders/v1/orders_pb.js";
import { ShipmentStatus, type Shipment } from "../../gen/shipping/v1/shipping_pb.js";
import { decodeEvent, type DurableConsumer } from "../platform/events/index.js";
import { createJetStreamFixture, type JetStreamFixture } from "../../tests/support/jetstream-fixture.js";
import { createOrdersDatabase, orderContext, validCreateOrder, type OrdersDatabase } from "../../tests/support/orders-fixture.js";
import { startScriptedShipping, type ScriptedShipping } from "../../tests/support/scripted-shipping.js";
import { movedOn, publishShippingEvent, shipmentOf, shippingEventFor } from "../../tests/support/shipping-events.js";
import { testLogger } from "../../tests/support/shipping-harness.js";
import { startTcpProxy, type TcpProxy } from "../../tests/support/tcp-proxy.js";
import { waitFor } from "../../tests/support/wait-for.js";
import { createOrderService } from "./order-service.js";
import { startOutboxRelay, type OutboxRelay } from "../platform/events/index.js";
import { outboxChannel } from "./db/schema.js";
import { shipmentCancelConsumer, startShipmentCancellation } from "./shipment-cancellation.js";
import { startShipmentTracking } from "./shipment-tracking.js";
import { createShippingClient, type ShippingClient } from "./shipping-client.js";
import { startShippingDispatcher } from "./shipping-dispatcher.js";

// The cancel saga in-process: CancelOrder's event relayed to a test ORDERS stream, shipment-cancel
// calling a scripted ShippingService through a proxy that can cut it, and shipment-tracking applying
// the events shipping would publish (on a test SHIPPING stream) to finish the order.
let db: OrdersDatabase;
let ordersStream: JetStreamFixture;
let shippingStream: JetStreamFixture;
let scripted: ScriptedShipping;
let proxy: TcpProxy;
let shipping: ShippingClient;
let relay: OutboxRelay;
const consumers: DurableConsumer[] = [];

beforeAll(async () => {
  db = await createOrdersDatabase();
  ordersStream = await createJetStreamFixture();
  shippingStream = await createJetStreamFixture();
  scripted = await startScriptedShipping();
  proxy = await startTcpProxy("127.0.0.1", scripted.host.grpcPort);
  shipping = createShippingClient({ addr: `127.0.0.1:${proxy.port}`, logger: testLogger, breakerThreshold: 3, halfOpenAfterMs: 200, dispatchAttemptTimeoutMs: 500 });
  relay = await startOutboxRelay({ sql: db.database.sql, nc: ordersStream.nc, logger: testLogger, family: "orders", channel: outboxChannel, subjectPrefix: ordersStream.subjectPrefix, pollIntervalMs: 100 });
  const { js, jsm } = ordersStream;
  consumers.push(await startShipmentCancellation({ js, jsm, orders: ordersStream, store: db.store, shipping, logger: testLogger, maxBackoffMs: 200 }));
  consumers.push(await startShipmentTracking({ js: shippingStream.js, jsm: shippingStream.jsm, shipping: shippingStream, store: db.store, logger: testLogger }));
  consumers.push(
    await startShippingDispatcher({ js, jsm, stream: ordersStream.stream, subjectPrefix: ordersStream.subjectPrefix, store: db.store, shipping, logger: testLogger, maxDeliver: 5, maxBackoffMs: 100, ackWaitMs: 5000 }),
  );
});

afterAll(async () => {
  await Promise.all(consumers.map((c) => c.stop()));
  await relay?.stop();
  shipping?.close();
  await proxy?.close();
  await scripted?.host.stop();
  await shippingStream?.close();
  await ordersStream?.close();
  await db?.close();
});

const orders = () => createOrderService({ store: db.store });
const cancel = async (id: string) => (await orders().cancelOrder(create(CancelOrderRequestSchema, { id, reason: "changed my mind" }), orderContext("cancelOrder"))).order!;

/** An order dispatch has claimed and recorded a shipment for: SHIPMENT_REQUESTED. Dispatch itself never sees it. */
async function handedToShipping(): Promise<{ id: string; shipment: Shipment }> {
  const { order } = await orders().createOrder(validCreateOrder(), orderContext("createOrder"));
  const id = order!.id!;
  // Claimed before the relay can hand its created event to dispatch, which then finds nothing to do.
  await db.store.claimForDispatch(id);
  const shipment = shipmentOf(id);
  await db.store.recordShipment(id, shipment);
  return { id, shipment };
}

/** What shipping publishes once it committed a change of the shipment. */
const shippingPublishes = (shipment: Shipment) => publishShippingEvent(shippingStream.js, shippingStream.subjectPrefix, shippingEventFor(shipment));

function statusBecomes(id: string, status: string, timeoutMs?: number) {
  return waitFor(async () => {
    const o = await db.store.get(id);
    return o?.status === status ? o : undefined;
  }, { what: `order ${id} ${status}`, timeoutMs });
}

async function eventKeys(id: string): Promise<string[]> {
  const rows = await db.database.sql`select event_name, payload from outbox where aggregate_id = ${id}`;
  return rows.map((r) => {
    const decoded = decodeEvent("orders", "x", `x.${r.event_name as string}`, r.payload as Uint8Array);
    return "key" in decoded ? decoded.key : "undecodable";
  }).sort();
}

async function dispatchIdle(): Promise<void> {
  await waitFor(async () => {
    const info = await ordersStream.jsm.consumers.info(ordersStream.stream, "shipping-dispatch");
    return info.num_pending === 0 && info.num_ack_pending === 0;
  }, { what: "shipping-dispatch idle" });
}

async function sagaIdle(): Promise<void> {
  await waitFor(async () => {
    const info = await ordersStream.jsm.consumers.info(ordersStream.stream, shipmentCancelConsumer);
    return info.num_pending === 0 && info.num_ack_pending === 0;
  }, { what: "shipment-cancel idle" });
}

describe("the cancel saga", () => {
  it("cancels an order right after CreateOrder at once, and dispatch never ships it", async () => {
    const { order } = await orders().createOrder(validCreateOrder(), orderContext("createOrder"));
    const id = order!.id!;
    const cancelled = await cancel(id);
    // Either dispatch had not claimed it yet (CANCELLED now) or it had (CANCELLING, the saga finishes it).
    if (cancelled.status === OrderStatus.CANCELLING) {
      await waitFor(() => scripted.cancelCalls(id) > 0, { what: "CancelShipment called" });
      // Shipping cancels the shipment dispatch created, or stores a cancelled one if it had none yet.
      await dispatchIdle();
      const { shipmentId, shipmentVersion } = (await db.store.get(id))!;
      await shippingPublishes(
        shipmentId
          ? shipmentOf(id, { id: shipmentId, status: ShipmentStatus.CANCELLED, version: shipmentVersion + 1n })
          : shipmentOf(id, { status: ShipmentStatus.CANCELLED, carrier: "", trackingNumber: "" }),
      );
    } else {
      expect(cancelled.status).toBe(OrderStatus.CANCELLED);
    }
    await statusBecomes(id, "cancelled");
    await sagaIdle();
    expect((await eventKeys(id)).filter((k) => k === "orderCancelled")).toHaveLength(1);
  });

  it("cancels an order handed to shipping: CANCELLING, one CancelShipment, CANCELLED when ShipmentCancelled arrives", async () => {
    const { id, shipment } = await handedToShipping();
    expect((await cancel(id)).status).toBe(OrderStatus.CANCELLING);
    await waitFor(() => scripted.cancelCalls(id) === 1, { what: "CancelShipment called" });
    await sagaIdle();
    expect((await db.store.get(id))?.status).toBe("cancelling");
    await shippingPublishes(movedOn(shipment, ShipmentStatus.CANCELLED));
    const order = await statusBecomes(id, "cancelled");
    expect(order).toMatchObject({ cancelReason: "changed my mind", shipmentStatus: "cancelled" });
    expect(scripted.cancelCalls(id)).toBe(1);
    expect(await eventKeys(id)).toEqual(["orderCancellationRequested", "orderCancelled", "orderCreated", "orderUpdated"]);
  });

  it("keeps asking while shipping is unreachable and completes the cancellation once it is back", async () => {
    const { id, shipment } = await handedToShipping();
    await sagaIdle();
    const deliveries = async () => (await ordersStream.jsm.consumers.info(ordersStream.stream, shipmentCancelConsumer)).delivered.consumer_seq;
    const before = await deliveries();
    proxy.cut();
    try {
      expect((await cancel(id)).status).toBe(OrderStatus.CANCELLING);
      // Delivered, nak'ed with backoff and redelivered again and again (the consumer sequence counts each
      // delivery), never dead-lettered.
      await waitFor(async () => (await deliveries()) >= before + 3, { what: "the cancellation delivered three times", timeoutMs: 10_000 });
      expect(scripted.cancelCalls(id)).toBe(0);
      expect((await db.store.get(id))?.status).toBe("cancelling");
    } finally {
      proxy.restore();
    }
    await waitFor(() => scripted.cancelCalls(id) >= 1, { what: "CancelShipment reached shipping after the outage", timeoutMs: 10_000 });
    await sagaIdle();
    await shippingPublishes(movedOn(shipment, ShipmentStatus.CANCELLED));
    await statusBecomes(id, "cancelled");
    expect(await ordersStream.deadLetters()).toEqual([]);
  });

  it("leaves the outcome to the pickup when shipping says it was picked up first: the order ends SHIPPED", async () => {
    const { id, shipment } = await handedToShipping();
    scripted.scriptCancel(id, Code.FailedPrecondition);
    expect((await cancel(id)).status).toBe(OrderStatus.CANCELLING);
    await waitFor(() => scripted.cancelCalls(id) === 1, { what: "CancelShipment refused" });
    await sagaIdle();
    // Acked, not retried: the pickup event decides.
    expect(scripted.cancelCalls(id)).toBe(1);
    await shippingPublishes(movedOn(shipment, ShipmentStatus.PICKED_UP));
    const order = await statusBecomes(id, "shipped");
    expect(order.cancelReason).toBe("");
    expect(await eventKeys(id)).toEqual(["orderCancellationRequested", "orderCreated", "orderShipped", "orderUpdated"]);
  });

  it("dead-letters a cancellation shipping refuses for good, with the reason, and the order is SHIPMENT_REQUESTED again", async () => {
    const { id } = await handedToShipping();
    scripted.scriptCancel(id, Code.PermissionDenied);
    await cancel(id);
    const dead = await waitFor(async () => (await ordersStream.deadLetters()).find((m) => m.header.get("x-deadletter-reason").includes(id)), { what: "dead letter" });
    expect(dead.header.get("x-deadletter-reason")).toContain("PermissionDenied");
    await statusBecomes(id, "shipment_requested");
    expect(scripted.cancelCalls(id)).toBe(1);
  });
});
