import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { randomUUID } from "node:crypto";
import { ShipmentStatus, type Shipment } from "../../gen/shipping/v1/shipping_pb.js";
import { decodeEvent, type DecodedEvent, type DurableConsumer } from "../platform/events/index.js";
import { createJetStreamFixture, type JetStreamFixture } from "../../tests/support/jetstream-fixture.js";
import { createOrdersDatabase, orderContext, validCreateOrder, type OrdersDatabase } from "../../tests/support/orders-fixture.js";
import { movedOn, publishShippingEvent, shipmentOf, shippingEventFor } from "../../tests/support/shipping-events.js";
import { testLogger } from "../../tests/support/shipping-harness.js";
import { waitFor } from "../../tests/support/wait-for.js";
import { createOrderService } from "./order-service.js";
import { applyShippingEvents, shipmentTrackingConsumer, startShipmentTracking } from "./shipment-tracking.js";

// shipment-tracking against real NATS and PostgreSQL, fed with catalogue-encoded shipping events on a
// test stream standing in for SHIPPING.
let db: OrdersDatabase;
let shipping: JetStreamFixture;
let tracking: DurableConsumer;

beforeAll(async () => {
  db = await createOrdersDatabase();
  shipping = await createJetStreamFixture();
  tracking = await startShipmentTracking({ js: shipping.js, jsm: shipping.jsm, shipping, store: db.store, logger: testLogger, batchSize: 16, batchesInFlight: 2 });
});

afterAll(async () => {
  await tracking?.stop();
  await shipping?.close();
  await db?.close();
});

/** A placed order claimed by dispatch (SHIPMENT_REQUESTED), as shipping's first event finds it. */
async function claimedOrder(): Promise<string> {
  const { order } = await createOrderService({ store: db.store }).createOrder(validCreateOrder(), orderContext("createOrder"));
  await db.store.claimForDispatch(order!.id!);
  return order!.id!;
}

/** The shipment's whole life, version 1 to 4. */
function lifeOf(orderId: string): Shipment[] {
  const created = shipmentOf(orderId);
  const pickedUp = movedOn(created, ShipmentStatus.PICKED_UP);
  const inTransit = movedOn(pickedUp, ShipmentStatus.IN_TRANSIT);
  return [created, pickedUp, inTransit, movedOn(inTransit, ShipmentStatus.DELIVERED)];
}

const publish = (shipment: Shipment, copies = 1) => {
  const event = shippingEventFor(shipment);
  // Extra copies carry other message ids, so JetStream's de-duplication lets them through like redeliveries.
  return Promise.all(Array.from({ length: copies }, (_, i) => publishShippingEvent(shipping.js, shipping.subjectPrefix, event, i === 0 ? event.id : randomUUID())));
};

async function trackingIdle(): Promise<void> {
  await waitFor(async () => {
    const info = await shipping.jsm.consumers.info(shipping.stream, shipmentTrackingConsumer);
    return info.num_pending === 0 && info.num_ack_pending === 0;
  }, { what: "shipment-tracking idle" });
}

/** The catalogue keys of the order's outbox events, counted. */
async function eventCounts(orderId: string): Promise<Record<string, number>> {
  const rows = await db.database.sql`select event_name, payload from outbox where aggregate_id = ${orderId}`;
  const counts: Record<string, number> = {};
  for (const r of rows) {
    const decoded = decodeEvent("orders", "x", `x.${r.event_name as string}`, r.payload as Uint8Array);
    const key = "key" in decoded ? decoded.key : "undecodable";
    counts[key] = (counts[key] ?? 0) + 1;
  }
  return counts;
}

const delivered = (orderId: string) =>
  waitFor(async () => {
    const o = await db.store.get(orderId);
    return o?.status === "delivered" ? o : undefined;
  }, { what: `order ${orderId} delivered` });

describe("shipment-tracking", () => {
  it("follows a shipment's life in order: one event per change, the projection at the last version", async () => {
    const id = await claimedOrder();
    const life = lifeOf(id);
    for (const shipment of life) await publish(shipment);
    const order = await delivered(id);
    expect(order).toMatchObject({ shipmentId: life[0]!.id, shipmentStatus: "delivered", shipmentVersion: 4n, shipmentTrackingNumber: life[0]!.trackingNumber, version: 6n });
    expect(await eventCounts(id)).toEqual({ orderCreated: 1, orderUpdated: 2, orderShipped: 1, orderDelivered: 1 });
  });

  it("changes nothing for duplicated events", async () => {
    const id = await claimedOrder();
    for (const shipment of lifeOf(id)) await publish(shipment, 3);
    await delivered(id);
    await trackingIdle();
    expect(await eventCounts(id)).toEqual({ orderCreated: 1, orderUpdated: 2, orderShipped: 1, orderDelivered: 1 });
    expect((await db.store.get(id))?.version).toBe(6n);
  });

  it("emits each milestone once when events arrive out of order or the pickup is skipped", async () => {
    const id = await claimedOrder();
    const [created, pickedUp, inTransit, last] = lifeOf(id);
    await publish(last!);
    await delivered(id);
    for (const shipment of [inTransit!, pickedUp!, created!]) await publish(shipment);
    await trackingIdle();
    // Shipped and delivered from the one DELIVERED event; the older ones are not newer and change nothing.
    expect(await eventCounts(id)).toEqual({ orderCreated: 1, orderShipped: 1, orderDelivered: 1 });
    expect(await db.store.get(id)).toMatchObject({ status: "delivered", shipmentVersion: 4n, version: 4n });
  });

  it("dead-letters an event about an order this database does not have, and a poison one, and keeps going", async () => {
    const stranger = randomUUID();
    await publish(shipmentOf(stranger));
    await shipping.js.publish(`${shipping.subjectPrefix}.${shippingEventFor(shipmentOf(stranger)).name}`, new Uint8Array([0x0a, 0xff]), { msgID: randomUUID() });
    const id = await claimedOrder();
    for (const shipment of lifeOf(id)) await publish(shipment);
    await delivered(id);
    const dead = await waitFor(async () => {
      const letters = await shipping.deadLetters();
      return letters.length >= 2 ? letters : undefined;
    }, { what: "two dead letters" });
    const reasons = dead.map((m) => m.header.get("x-deadletter-reason"));
    expect(reasons.some((r) => r.includes(stranger) && r.includes("does not exist"))).toBe(true);
    expect(reasons.some((r) => r.includes("undecodable"))).toBe(true);
    expect(new Set(dead.map((m) => m.subject))).toEqual(new Set([`deadletter.${shipping.subjectPrefix}.${shipmentTrackingConsumer}`]));
  });

  it("applies a batch of events in one go, each with its own verdict", async () => {
    const [a, b, c] = [await claimedOrder(), await claimedOrder(), await claimedOrder()];
    const stranger = randomUUID();
    const decoded = (shipment: Shipment): DecodedEvent => {
      const event = shippingEventFor(shipment);
      const result = decodeEvent("shipping", "x", `x.${event.name}`, event.payload);
      if (!("key" in result)) throw new Error(`not a shipping event: ${JSON.stringify(result)}`);
      return result;
    };
    const [aCreated] = lifeOf(a);
    const bDelivered = lifeOf(b)[3]!;
    // c already has a shipment: another shipment's event for it is refused.
    await db.store.trackShipment(c, shipmentOf(c), new Date());
    const results = await applyShippingEvents(db.store, [
      decoded(aCreated!),
      decoded(shipmentOf(stranger)),
      decoded(bDelivered),
      decoded(shipmentOf(c, { version: 2n })),
      decoded(shipmentOf("not-a-uuid")),
    ]);
    expect(results[0]).toEqual({ ack: true });
    expect(results[1]).toMatchObject({ deadLetter: expect.stringContaining("does not exist") });
    expect(results[2]).toEqual({ ack: true });
    expect(results[3]).toMatchObject({ deadLetter: expect.stringContaining(`order ${c} has shipment`) });
    expect(results[4]).toMatchObject({ deadLetter: expect.stringContaining("not a UUID") });
    expect(await db.store.get(a)).toMatchObject({ shipmentStatus: "pending", shipmentVersion: 1n });
    // Shipped and delivered in one change: both milestone events, one version each.
    expect(await db.store.get(b)).toMatchObject({ status: "delivered", shipmentVersion: 4n, version: 4n });
    expect(await eventCounts(b)).toEqual({ orderCreated: 1, orderShipped: 1, orderDelivered: 1 });
  });
});
