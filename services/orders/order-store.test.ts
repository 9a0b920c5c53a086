import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { create } from "@bufbuild/protobuf";
import { timestampDate } from "@bufbuild/protobuf/wkt";
import { CancelOrderRequestSchema, type Order, OrderStatus } from "../../gen/orders/v1/orders_pb.js";
import { ShipmentStatus, type Shipment } from "../../gen/shipping/v1/shipping_pb.js";
import { decodeEvent, type DecodedEvent, type EncodedEvent } from "../platform/events/index.js";
import { createOrdersDatabase, orderContext, validCreateOrder, type OrdersDatabase } from "../../tests/support/orders-fixture.js";
import { movedOn, shipmentOf } from "../../tests/support/shipping-events.js";
import { createOrderService } from "./order-service.js";
import type { ChangeResult, StoredOrder } from "./order-store.js";
import { cancellation, cancelledByShippingReason } from "./order-transitions.js";

// Every change of an order against a real database: the version it bumps and the events it writes.
let db: OrdersDatabase;

beforeAll(async () => {
  db = await createOrdersDatabase();
});
afterAll(async () => db?.close());

const service = () => createOrderService({ store: db.store });

async function placed(): Promise<string> {
  const { order } = await service().createOrder(validCreateOrder(), orderContext("createOrder"));
  return order!.id!;
}

/** A placed order as dispatch leaves it: claimed, with its PENDING shipment recorded. */
async function withShipment(): Promise<{ id: string; shipment: Shipment }> {
  const id = await placed();
  await db.store.claimForDispatch(id);
  const shipment = shipmentOf(id);
  await db.store.recordShipment(id, shipment);
  return { id, shipment };
}

async function cancel(id: string, reason = "changed my mind") {
  return (await service().cancelOrder(create(CancelOrderRequestSchema, { id, reason }), orderContext("cancelOrder"))).order!;
}

/** An orders event as a test looks at it: which catalogue entry, the order it carries, its reason if any. */
interface OrderEventSeen {
  key: DecodedEvent["key"];
  order: Order | undefined;
  reason: string | undefined;
}

function seen(name: string, payload: Uint8Array): OrderEventSeen {
  const decoded = decodeEvent("orders", "x", `x.${name}`, payload);
  if (!("key" in decoded) || !("order" in decoded.event)) throw new Error(`not an orders event: ${JSON.stringify(decoded)}`);
  return { key: decoded.key, order: decoded.event.order, reason: "reason" in decoded.event ? decoded.event.reason : undefined };
}

/** The events of an order as stored in the outbox, decoded with the catalogue. */
async function outboxOf(id: string): Promise<OrderEventSeen[]> {
  const rows = await db.database.sql`select event_name, payload from outbox where aggregate_id = ${id}`;
  return rows.map((r) => seen(r.event_name as string, r.payload as Uint8Array));
}

/** The written events of a change, decoded, in the order the change wrote them. */
function written(result: ChangeResult | { refused: string } | undefined): OrderEventSeen[] {
  if (!result || "refused" in result) throw new Error(`no change: ${JSON.stringify(result)}`);
  return result.events.map((e: EncodedEvent) => seen(e.name, e.payload));
}

const track = (id: string, shipment: Shipment) => db.store.trackShipment(id, shipment, timestampDate(shipment.updateTime!));
const versionOf = async (id: string) => (await db.store.get(id))!.version;

describe("order versions and events", () => {
  it("starts at version 1 with OrderCreated; the dispatch claim bumps it once, without an event", async () => {
    const id = await placed();
    expect(await versionOf(id)).toBe(1n);
    expect((await outboxOf(id)).map((e) => e.key)).toEqual(["orderCreated"]);
    const claimed = await db.store.claimForDispatch(id);
    expect(claimed).toMatchObject({ status: "shipment_requested", version: 2n });
    // A redelivery's claim takes the earlier claim over unchanged.
    expect((await db.store.claimForDispatch(id))?.version).toBe(2n);
    expect((await outboxOf(id)).map((e) => e.key)).toEqual(["orderCreated"]);
  });

  it("records the shipment CreateShipment answered once, as the projection, with one OrderUpdated, never moving the status", async () => {
    const id = await placed();
    await db.store.claimForDispatch(id);
    const shipment = shipmentOf(id);
    const [event] = written(await db.store.recordShipment(id, shipment));
    expect(event?.key).toBe("orderUpdated");
    const order = event!.order!;
    expect(order).toMatchObject({ status: OrderStatus.SHIPMENT_REQUESTED, version: 3n, shipmentId: shipment.id });
    expect(order.shipment).toMatchObject({ id: shipment.id, status: ShipmentStatus.PENDING, carrier: "DHL", trackingNumber: shipment.trackingNumber });
    expect(order.shipment?.updateTime).toEqual(shipment.updateTime);
    // The same shipment again (a redelivered dispatch), or shipping's ShipmentCreated for it, is not newer.
    expect((await db.store.recordShipment(id, shipment)) as ChangeResult).toMatchObject({ events: [] });
    expect((await track(id, shipment)) as ChangeResult).toMatchObject({ events: [] });
    // A cancelled shipment answered by CreateShipment is left to shipping's events, which move the status.
    const other = await placed();
    await db.store.claimForDispatch(other);
    expect(await db.store.recordShipment(other, shipmentOf(other, { status: ShipmentStatus.CANCELLED }))).toMatchObject({ events: [] });
    expect((await db.store.get(other))).toMatchObject({ status: "shipment_requested", shipmentId: null });
    expect(await versionOf(id)).toBe(3n);
  });

  it("follows the shipment through pickup, transit and delivery, one version and one event each", async () => {
    const { id, shipment } = await withShipment();
    const pickedUp = movedOn(shipment, ShipmentStatus.PICKED_UP);
    const [shipped] = written(await track(id, pickedUp));
    expect(shipped?.key).toBe("orderShipped");
    expect(shipped?.order).toMatchObject({ status: OrderStatus.SHIPPED, version: 4n, shipment: { status: ShipmentStatus.PICKED_UP, trackingNumber: shipment.trackingNumber } });
    const inTransit = movedOn(pickedUp, ShipmentStatus.IN_TRANSIT);
    expect(written(await track(id, inTransit)).map((e) => [e.key, e.order?.status, e.order?.version])).toEqual([["orderUpdated", OrderStatus.SHIPPED, 5n]]);
    const delivered = movedOn(inTransit, ShipmentStatus.DELIVERED);
    expect(written(await track(id, delivered)).map((e) => [e.key, e.order?.status, e.order?.version])).toEqual([["orderDelivered", OrderStatus.DELIVERED, 6n]]);
    // A redelivered older snapshot changes nothing.
    expect((await track(id, pickedUp)) as ChangeResult).toMatchObject({ events: [] });
    expect((await outboxOf(id)).map((e) => e.key).sort()).toEqual(["orderCreated", "orderDelivered", "orderShipped", "orderUpdated", "orderUpdated"].sort());
    expect(await db.store.get(id)).toMatchObject({ status: "delivered", version: 6n, shipmentStatus: "delivered", shipmentVersion: 4n });
  });

  it("passes every milestone it skipped: DELIVERED first writes shipped then delivered, and the late pickup nothing", async () => {
    const { id, shipment } = await withShipment();
    const pickedUp = movedOn(shipment, ShipmentStatus.PICKED_UP);
    const delivered = movedOn(pickedUp, ShipmentStatus.DELIVERED, 2n);
    const events = written(await track(id, delivered));
    expect(events.map((e) => [e.key, e.order?.status, e.order?.version])).toEqual([
      ["orderShipped", OrderStatus.SHIPPED, 4n],
      ["orderDelivered", OrderStatus.DELIVERED, 5n],
    ]);
    expect((await track(id, pickedUp)) as ChangeResult).toMatchObject({ events: [] });
    expect(await db.store.get(id)).toMatchObject({ status: "delivered", version: 5n });
    // Both events are in the outbox with the change.
    const stored = await outboxOf(id);
    expect(stored.filter((e) => e.key === "orderShipped")).toHaveLength(1);
    expect(stored.filter((e) => e.key === "orderDelivered")).toHaveLength(1);
  });

  it("cancels a CANCELLING order when its shipment is cancelled, with the customer's reason", async () => {
    const { id, shipment } = await withShipment();
    expect(await cancel(id, "too slow")).toMatchObject({ status: OrderStatus.CANCELLING, version: 4n, cancelReason: "too slow" });
    const [event] = written(await track(id, movedOn(shipment, ShipmentStatus.CANCELLED)));
    expect(event?.key).toBe("orderCancelled");
    expect(event?.reason).toBe("too slow");
    expect(event?.order).toMatchObject({ status: OrderStatus.CANCELLED, version: 5n, cancelReason: "too slow", shipment: { status: ShipmentStatus.CANCELLED } });
  });

  it("ships a CANCELLING order whose parcel was picked up first, and drops the cancellation reason", async () => {
    const { id, shipment } = await withShipment();
    await cancel(id);
    const [event] = written(await track(id, movedOn(shipment, ShipmentStatus.PICKED_UP)));
    expect(event?.key).toBe("orderShipped");
    expect(event?.order).toMatchObject({ status: OrderStatus.SHIPPED, version: 5n, cancelReason: "" });
    // The shipment's cancellation can no longer arrive (shipping serialises them), and would not undo the pickup.
    expect(await db.store.get(id)).toMatchObject({ status: "shipped" });
  });

  it("cancels an order whose shipment shipping cancelled on its own, saying so", async () => {
    const { id, shipment } = await withShipment();
    const [event] = written(await track(id, movedOn(shipment, ShipmentStatus.CANCELLED)));
    expect(event?.key).toBe("orderCancelled");
    expect(event?.order).toMatchObject({ status: OrderStatus.CANCELLED, cancelReason: cancelledByShippingReason });
  });

  it("learns the shipment from shipping's events alone: a tombstone cancels a CANCELLING order that never recorded one", async () => {
    const id = await placed();
    await db.store.claimForDispatch(id);
    await cancel(id);
    const tombstone = shipmentOf(id, { status: ShipmentStatus.CANCELLED, carrier: "", trackingNumber: "" });
    const [event] = written(await track(id, tombstone));
    expect(event?.key).toBe("orderCancelled");
    expect(await db.store.get(id)).toMatchObject({ status: "cancelled", shipmentId: tombstone.id, shipmentStatus: "cancelled", shipmentVersion: 1n });
  });

  it("refuses a snapshot of another shipment than the order's, changing nothing", async () => {
    const { id } = await withShipment();
    const before = await db.store.get(id);
    const result = await track(id, movedOn(shipmentOf(id), ShipmentStatus.PICKED_UP));
    expect(result).toMatchObject({ refused: expect.stringContaining("has shipment") });
    expect(await db.store.get(id)).toEqual(before);
  });

  it("marks a claimed order without shipment DISPATCH_FAILED once, with OrderUpdated", async () => {
    const id = await placed();
    await db.store.claimForDispatch(id);
    expect(await db.store.markDispatchFailed(id)).toBe(true);
    expect(await db.store.markDispatchFailed(id)).toBe(false);
    expect(await db.store.get(id)).toMatchObject({ status: "dispatch_failed", version: 3n });
    expect((await outboxOf(id)).map((e) => e.key).sort()).toEqual(["orderCreated", "orderUpdated"]);
    // An order with a shipment is not failed, whatever dispatch concluded.
    const { id: shipped } = await withShipment();
    expect(await db.store.markDispatchFailed(shipped)).toBe(false);
  });

  it("drops a cancellation shipping refused for good: back to SHIPMENT_REQUESTED, with OrderUpdated", async () => {
    const { id } = await withShipment();
    await cancel(id);
    expect(await db.store.dropCancellation(id)).toBe(true);
    expect(await db.store.dropCancellation(id)).toBe(false);
    expect(await db.store.get(id)).toMatchObject({ status: "shipment_requested", cancelReason: "", version: 5n });
    expect((await outboxOf(id)).filter((e) => e.key === "orderUpdated")).toHaveLength(2);
  });

  it("answers undefined for an order this database does not have", async () => {
    expect(await track(crypto.randomUUID(), shipmentOf(crypto.randomUUID()))).toBeUndefined();
  });

});

describe("batches of changes", () => {
  it("claims many orders in one statement and tells the absent from those with nothing to ship", async () => {
    const [a, b, gone] = [await placed(), await placed(), crypto.randomUUID()];
    const cancelled = await placed();
    await cancel(cancelled);
    const claimed = await db.store.claimManyForDispatch([a, b, gone, cancelled]);
    expect(claimed.map((o) => o.id).sort()).toEqual([a, b].sort());
    expect(claimed.every((o) => o.status === "shipment_requested" && o.version === 2n && o.items.length > 0)).toBe(true);
    expect(await db.store.existing([a, gone, cancelled])).toEqual(new Set([a, cancelled]));
  });

  it("applies each order's change in one transaction: its own version and events, the unchanged and absent ones untouched", async () => {
    const [a, b, c] = [await placed(), await placed(), await placed()];
    for (const id of [a, b, c]) await db.store.claimForDispatch(id);
    const sa = shipmentOf(a);
    const results = await db.store.recordShipments([
      { orderId: a, shipment: sa },
      { orderId: crypto.randomUUID(), shipment: shipmentOf(a) },
      // A cancelled answer changes nothing; the same order named again with its PENDING one is recorded.
      { orderId: b, shipment: shipmentOf(b, { status: ShipmentStatus.CANCELLED }) },
      { orderId: b.toUpperCase(), shipment: shipmentOf(b) },
      // Named twice: the second sees the first's outcome (already recorded, not newer).
      { orderId: a, shipment: sa },
    ]);
    expect(written(results[0]).map((e) => [e.key, e.order?.version, e.order?.shipmentId])).toEqual([["orderUpdated", 3n, sa.id]]);
    expect(results[1]).toBeUndefined();
    expect(results[2]).toMatchObject({ events: [] });
    expect(written(results[3]).map((e) => e.key)).toEqual(["orderUpdated"]);
    expect(results[4]).toMatchObject({ events: [] });
    expect(await db.store.get(a)).toMatchObject({ shipmentId: sa.id, shipmentStatus: "pending", shipmentTrackingNumber: sa.trackingNumber, version: 3n });
    expect(await db.store.get(b)).toMatchObject({ shipmentStatus: "pending", version: 3n });
    expect(await db.store.get(c)).toMatchObject({ shipmentId: null, version: 2n });
    expect((await outboxOf(a)).map((e) => e.key).sort()).toEqual(["orderCreated", "orderUpdated"]);
  });

  it("rolls the whole batch back when one change throws", async () => {
    const [a, b] = [await placed(), await placed()];
    const before = await Promise.all([db.store.get(a), db.store.get(b)]);
    const shipped = async () => {
      const { id, shipment } = await withShipment();
      await track(id, movedOn(shipment, ShipmentStatus.PICKED_UP));
      return id;
    };
    const s = await shipped();
    // Cancelling a shipped order is FAILED_PRECONDITION: a, cancelled first in the batch, stays as it was.
    const change = (reason: string) => ({ change: (current: StoredOrder, now: Date) => ({ steps: cancellation(current, reason, now) ?? [] }) });
    await expect(db.store.changeManyWithEvents([{ id: a, ...change("x") }, { id: s, ...change("x") }, { id: b, ...change("x") }])).rejects.toThrow(/can no longer be cancelled/);
    expect(await Promise.all([db.store.get(a), db.store.get(b)])).toEqual(before);
    expect((await outboxOf(a)).map((e) => e.key)).toEqual(["orderCreated"]);
  });
});
