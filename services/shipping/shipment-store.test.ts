import { randomUUID } from "node:crypto";
import { fromBinary } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ShipmentStatus } from "../../gen/shipping/v1/shipping_pb.js";
import type { Database } from "../platform/db/index.js";
import { catalogue, eventsOf, typeOf } from "../platform/events/index.js";
import { shipmentRequest } from "../../tests/support/shipping-harness.js";
import { createTestDatabase, type TestDatabase } from "../../tests/support/test-database.js";
import { openShippingDatabase } from "./db/open-database.js";
import type * as schema from "./db/schema.js";
import { toProto } from "./shipment-mapping.js";
import { ShipmentStore, type NewShipment } from "./shipment-store.js";

// The store over a real database: every change and its outbox event, and the races the row lock decides.
let testDb: TestDatabase;
let database: Database<typeof schema>;
let store: ShipmentStore;

beforeAll(async () => {
  testDb = await createTestDatabase("shipping_store");
  database = await openShippingDatabase(testDb.url, 10);
  store = new ShipmentStore(database.db);
});
afterAll(async () => {
  await database?.close();
  await testDb?.drop();
});

function newShipment(orderId: string = randomUUID()): NewShipment {
  const { address, items } = shipmentRequest();
  return { orderId, customerId: "c-1", address: { line2: "", ...address } as NewShipment["address"], items: items as NewShipment["items"] };
}

/** The order's outbox events in seq order, decoded by the catalogue. */
async function eventsOfOrder(orderId: string) {
  const rows = await database.sql`select event_name, event_type, payload from outbox where aggregate_id = ${orderId} order by seq`;
  return rows.map((row) => {
    const definition = eventsOf("shipping").find((d) => d.name === row.event_name)!;
    expect(row.event_type).toBe(typeOf(definition));
    const event = fromBinary(definition.schema, row.payload as Uint8Array) as unknown as { shipment: ReturnType<typeof toProto>; previousStatus?: ShipmentStatus };
    return { name: row.event_name as string, shipment: event.shipment, previousStatus: event.previousStatus };
  });
}

async function codeOf(call: Promise<unknown>): Promise<Code | "ok"> {
  try {
    await call;
    return "ok";
  } catch (err) {
    if (err instanceof ConnectError) return err.code;
    throw err;
  }
}

describe("ShipmentStore", () => {
  it("writes one event per change, carrying the shipment as committed with its version", async () => {
    const { row: created } = await store.createOnce(newShipment());
    expect(created).toMatchObject({ status: "pending", version: 1n, carrier: "DHL", carrierDueAt: null });
    const picked = await store.updateStatus(created.id, "picked_up", { trackingNumber: "CARRIER-1" });
    const moving = await store.updateStatus(created.id, "in_transit");
    const delivered = await store.updateStatus(created.id, "delivered", { occurTime: new Date("2026-12-24T18:00:00Z") });
    // The same report again changes nothing and writes nothing.
    const again = await store.updateStatus(created.id, "delivered");
    expect([picked, moving, delivered, again].map((r) => [r!.status, r!.version])).toEqual([
      ["picked_up", 2n],
      ["in_transit", 3n],
      ["delivered", 4n],
      ["delivered", 4n],
    ]);
    expect(picked!.trackingNumber).toBe("CARRIER-1");
    expect(moving!.trackingNumber).toBe("CARRIER-1");
    const events = await eventsOfOrder(created.orderId);
    expect(events.map((e) => [e.name, e.shipment.version, e.previousStatus])).toEqual([
      [catalogue.shipmentCreated.name, 1n, undefined],
      [catalogue.shipmentStatusChanged.name, 2n, ShipmentStatus.PENDING],
      [catalogue.shipmentStatusChanged.name, 3n, ShipmentStatus.PICKED_UP],
      [catalogue.shipmentStatusChanged.name, 4n, ShipmentStatus.IN_TRANSIT],
    ]);
    expect(events.map((e) => e.shipment)).toEqual([created, picked, moving, delivered].map((r) => toProto(r!)));
    const [delivery] = await database.sql`select payload from outbox where aggregate_id = ${created.orderId} order by seq desc limit 1`;
    const occurTime = fromBinary(catalogue.shipmentStatusChanged.schema, delivery!.payload as Uint8Array).occurTime;
    expect(Number(occurTime!.seconds)).toBe(Date.parse("2026-12-24T18:00:00Z") / 1000);
  });

  it("refuses moves the life does not allow, changing and writing nothing", async () => {
    const { row } = await store.createOnce(newShipment());
    await store.updateStatus(row.id, "in_transit");
    expect(await codeOf(store.updateStatus(row.id, "picked_up"))).toBe(Code.FailedPrecondition);
    expect(await codeOf(store.cancel({ id: row.id }))).toBe(Code.FailedPrecondition);
    expect(await store.get(row.id)).toMatchObject({ status: "in_transit", version: 2n });
    expect((await eventsOfOrder(row.orderId)).map((e) => e.name)).toEqual([catalogue.shipmentCreated.name, catalogue.shipmentStatusChanged.name]);
    expect(await store.updateStatus(randomUUID(), "delivered")).toBeUndefined();
    expect(await store.cancel({ id: randomUUID() })).toBeUndefined();
  });

  it("cancels a pending shipment with one ShipmentCancelled; cancelling again writes nothing", async () => {
    const { row } = await store.createOnce(newShipment());
    const cancelled = await store.cancel({ orderId: row.orderId });
    expect(cancelled).toMatchObject({ id: row.id, status: "cancelled", version: 2n });
    expect(await store.cancel({ id: row.id })).toEqual(cancelled);
    expect(await store.updateStatus(row.id, "cancelled")).toEqual(cancelled);
    expect(await codeOf(store.updateStatus(row.id, "picked_up"))).toBe(Code.FailedPrecondition);
    const events = await eventsOfOrder(row.orderId);
    expect(events.map((e) => [e.name, e.shipment.status, e.shipment.version])).toEqual([
      [catalogue.shipmentCreated.name, ShipmentStatus.PENDING, 1n],
      [catalogue.shipmentCancelled.name, ShipmentStatus.CANCELLED, 2n],
    ]);
  });

  it("cancelling by order before the shipment exists stores a tombstone that CreateShipment then returns", async () => {
    const orderId = randomUUID();
    const tombstone = await store.cancel({ orderId });
    expect(tombstone).toMatchObject({ orderId, status: "cancelled", version: 1n, carrier: "", trackingNumber: "", items: [], customerId: "" });
    expect(Object.values(tombstone!.address).every((v) => v === "")).toBe(true);
    const { row, created } = await store.createOnce(newShipment(orderId));
    expect(created).toBe(false);
    expect(row).toEqual(tombstone);
    expect((await store.createMany([newShipment(orderId)]))[0]).toEqual({ row: tombstone, created: false });
    expect(await store.cancel({ orderId })).toEqual(tombstone);
    const events = await eventsOfOrder(orderId);
    expect(events.map((e) => [e.name, e.shipment.status, e.shipment.version])).toEqual([[catalogue.shipmentCancelled.name, ShipmentStatus.CANCELLED, 1n]]);
  });

  it("createMany creates every order once in one transaction, answering in input order, idempotent per order_id", async () => {
    const existing = (await store.createOnce(newShipment())).row;
    const fresh = [randomUUID(), randomUUID(), randomUUID()];
    const inputs = [newShipment(fresh[0]), newShipment(existing.orderId), newShipment(fresh[1]), newShipment(fresh[0]), newShipment(fresh[2])];
    const results = await store.createMany(inputs);
    expect(results.map((r) => r.row.orderId)).toEqual(inputs.map((i) => i.orderId));
    expect(results.map((r) => r.created)).toEqual([true, false, true, true, true]);
    expect(results[1]!.row).toEqual(existing);
    // The order named twice got one shipment, answered twice.
    expect(results[3]!.row).toEqual(results[0]!.row);
    for (const orderId of fresh) expect((await eventsOfOrder(orderId)).map((e) => e.name)).toEqual([catalogue.shipmentCreated.name]);
    expect(await eventsOfOrder(existing.orderId)).toHaveLength(1);
    // Again: nothing new anywhere.
    const repeat = await store.createMany(inputs);
    expect(repeat.map((r) => r.created)).toEqual([false, false, false, false, false]);
    expect(repeat.map((r) => r.row.id)).toEqual(results.map((r) => r.row.id));
    const [{ n }] = (await database.sql`select count(*)::int as n from outbox where aggregate_id = any(${fresh}::uuid[])`) as unknown as [{ n: number }];
    expect(n).toBe(3);
  });

  it("concurrent batches naming the same orders in different orders neither deadlock nor duplicate", async () => {
    const orderIds = Array.from({ length: 40 }, () => randomUUID());
    const batches = [orderIds, [...orderIds].reverse(), [...orderIds.slice(20), ...orderIds.slice(0, 20)]];
    const results = await Promise.all(batches.map((ids) => store.createMany(ids.map((id) => newShipment(id)))));
    const byOrder = new Map<string, string>();
    for (const result of results.flat()) {
      expect(byOrder.get(result.row.orderId) ?? result.row.id).toBe(result.row.id);
      byOrder.set(result.row.orderId, result.row.id);
    }
    expect(results.flat().filter((r) => r.created)).toHaveLength(40);
    const [{ n }] = (await database.sql`select count(*)::int as n from outbox where aggregate_id = any(${orderIds}::uuid[])`) as unknown as [{ n: number }];
    expect(n).toBe(40);
  });

  it("pickup racing cancel on many shipments: exactly one wins each time, with exactly one event", async () => {
    const rows = (await store.createMany(Array.from({ length: 40 }, () => newShipment()))).map((r) => r.row);
    const outcomes = await Promise.all(
      rows.map(async (row, i) => {
        // Alternate who starts first, so both orders of arrival are raced.
        const pickup = () => codeOf(store.updateStatus(row.id, "picked_up"));
        const cancel = () => codeOf(store.cancel(i % 2 === 0 ? { id: row.id } : { orderId: row.orderId }));
        const [a, b] = i % 2 === 0 ? await Promise.all([pickup(), cancel()]) : (await Promise.all([cancel(), pickup()])).reverse();
        return { row, pickup: a, cancel: b };
      }),
    );
    for (const { row, pickup, cancel } of outcomes) {
      // One of them succeeded, the other was refused as too late; never both, never neither.
      expect([pickup, cancel].sort(), row.id).toEqual(["ok", Code.FailedPrecondition].sort());
      const stored = await store.get(row.id);
      expect(stored!.status).toBe(pickup === "ok" ? "picked_up" : "cancelled");
      expect(stored!.version).toBe(2n);
      const events = (await eventsOfOrder(row.orderId)).map((e) => e.name);
      expect(events).toEqual([catalogue.shipmentCreated.name, pickup === "ok" ? catalogue.shipmentStatusChanged.name : catalogue.shipmentCancelled.name]);
    }
  });

  it("create racing cancel-by-order on many orders: one shipment each, always cancelled, events matching", async () => {
    const orderIds = Array.from({ length: 40 }, () => randomUUID());
    await Promise.all(orderIds.map((orderId, i) => (i % 2 === 0 ? [store.createOnce(newShipment(orderId)), store.cancel({ orderId })] : [store.cancel({ orderId }), store.createOnce(newShipment(orderId))])).flat());
    for (const orderId of orderIds) {
      const row = await store.getByOrder(orderId);
      expect(row!.status).toBe("cancelled");
      const events = (await eventsOfOrder(orderId)).map((e) => e.name);
      // A tombstone (cancel came first) or a created shipment then cancelled.
      expect([[catalogue.shipmentCancelled.name], [catalogue.shipmentCreated.name, catalogue.shipmentCancelled.name]]).toContainEqual(events);
      expect(row!.version).toBe(BigInt(events.length));
    }
  });
});
