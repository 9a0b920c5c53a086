import { randomUUID } from "node:crypto";
import { fromBinary } from "@bufbuild/protobuf";
import { timestampDate } from "@bufbuild/protobuf/wkt";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { ShipmentStatus } from "../../gen/shipping/v1/shipping_pb.js";
import type { Database } from "../platform/db/index.js";
import { catalogue } from "../platform/events/index.js";
import { shipmentRequest, testLogger } from "../../tests/support/shipping-harness.js";
import { createTestDatabase, type TestDatabase } from "../../tests/support/test-database.js";
import { waitFor } from "../../tests/support/wait-for.js";
import { carrierIsOn, carrierSchedule, startCarrierSimulator, type CarrierSimulator } from "./carrier-simulator.js";
import { openShippingDatabase } from "./db/open-database.js";
import type * as schema from "./db/schema.js";
import { ShipmentStore, type NewShipment } from "./shipment-store.js";

let testDb: TestDatabase;
let database: Database<typeof schema>;
const simulators: CarrierSimulator[] = [];

beforeAll(async () => {
  testDb = await createTestDatabase("shipping_carrier");
  database = await openShippingDatabase(testDb.url, 10);
});
afterEach(async () => {
  await Promise.all(simulators.splice(0).map((s) => s.stop()));
});
afterAll(async () => {
  await database?.close();
  await testDb?.drop();
});

function newShipment(): NewShipment {
  const { address, items } = shipmentRequest();
  return { orderId: randomUUID(), address: { line2: "", ...address } as NewShipment["address"], items: items as NewShipment["items"] };
}

function carrier(store: ShipmentStore, batchSize?: number): CarrierSimulator {
  const simulator = startCarrierSimulator({ store, logger: testLogger, pollIntervalMs: 50, batchSize });
  simulators.push(simulator);
  return simulator;
}

/** The ShipmentStatusChanged events of an order in seq order: new status, previous status, version, when. */
async function steps(orderId: string) {
  const rows = await database.sql`select event_name, payload from outbox where aggregate_id = ${orderId} order by seq`;
  return rows
    .filter((r) => r.event_name === catalogue.shipmentStatusChanged.name)
    .map((r) => fromBinary(catalogue.shipmentStatusChanged.schema, r.payload as Uint8Array))
    .map((e) => ({ status: e.shipment!.status, previous: e.previousStatus, version: e.shipment!.version, at: timestampDate(e.occurTime!).getTime() }));
}

describe("simulated carrier", () => {
  it("moves a shipment through pickup and transit to DELIVERED after its delays, one event per step", async () => {
    const store = new ShipmentStore(database.db, { schedule: carrierSchedule({ pickupAfterMs: 150, deliverAfterMs: 200 }) });
    carrier(store);
    const { row } = await store.createOnce(newShipment());
    expect(row.carrierDueAt!.getTime() - row.createdAt.getTime()).toBe(150);
    await waitFor(async () => (await store.get(row.id))?.status === "delivered", { what: "the shipment delivered", timeoutMs: 5000 });
    const done = await store.get(row.id);
    expect(done).toMatchObject({ version: 4n, carrierDueAt: null });
    const taken = await steps(row.orderId);
    expect(taken.map((s) => [s.status, s.previous, s.version])).toEqual([
      [ShipmentStatus.PICKED_UP, ShipmentStatus.PENDING, 2n],
      [ShipmentStatus.IN_TRANSIT, ShipmentStatus.PICKED_UP, 3n],
      [ShipmentStatus.DELIVERED, ShipmentStatus.IN_TRANSIT, 4n],
    ]);
    // No step before its time: pickup after 150 ms, in transit half of 200 ms later, delivered the other half.
    const created = row.createdAt.getTime();
    expect(taken[0]!.at - created).toBeGreaterThanOrEqual(150);
    expect(taken[1]!.at - taken[0]!.at).toBeGreaterThanOrEqual(100);
    expect(taken[2]!.at - taken[1]!.at).toBeGreaterThanOrEqual(100);
  });

  it("two replicas share the shipments and take every step exactly once", async () => {
    const store = new ShipmentStore(database.db, { schedule: carrierSchedule({ pickupAfterMs: 50, deliverAfterMs: 100 }) });
    carrier(store, 4);
    carrier(store, 4);
    const rows = (await store.createMany(Array.from({ length: 30 }, newShipment))).map((r) => r.row);
    await waitFor(async () => (await Promise.all(rows.map((r) => store.get(r.id)))).every((r) => r?.status === "delivered"), {
      what: "every shipment delivered",
      timeoutMs: 10_000,
    });
    for (const row of rows) expect((await steps(row.orderId)).map((s) => s.version)).toEqual([2n, 3n, 4n]);
  });

  it("plans no step for a shipment cancelled before pickup, nor after a delivery reported by hand", async () => {
    const store = new ShipmentStore(database.db, { schedule: carrierSchedule({ pickupAfterMs: 60_000, deliverAfterMs: 60_000 }) });
    const { row: cancelled } = await store.createOnce(newShipment());
    expect(cancelled.carrierDueAt).not.toBeNull();
    expect((await store.cancel({ id: cancelled.id }))?.carrierDueAt).toBeNull();
    const { row: reported } = await store.createOnce(newShipment());
    const picked = await store.updateStatus(reported.id, "picked_up");
    // The carrier goes on from where a report left the shipment.
    expect(picked!.carrierDueAt!.getTime() - picked!.updatedAt.getTime()).toBe(30_000);
    expect((await store.updateStatus(reported.id, "delivered"))?.carrierDueAt).toBeNull();
  });

  it("is off when both delays are off: shipments get no carrier step", async () => {
    const delays = { pickupAfterMs: undefined, deliverAfterMs: undefined };
    expect(carrierIsOn(delays)).toBe(false);
    expect(carrierIsOn({ ...delays, deliverAfterMs: 1000 })).toBe(true);
    const { row } = await new ShipmentStore(database.db, { schedule: carrierSchedule(delays) }).createOnce(newShipment());
    expect(row.carrierDueAt).toBeNull();
  });

  it("stops cleanly: after stop() resolved it looks at the database no more", async () => {
    const schedule = carrierSchedule({ pickupAfterMs: 0, deliverAfterMs: undefined });
    class CountingStore extends ShipmentStore {
      looks = 0;
      override advanceDue(limit: number): Promise<number> {
        this.looks++;
        return super.advanceDue(limit);
      }
    }
    const watched = new CountingStore(database.db, { schedule });
    const simulator = carrier(watched);
    await waitFor(() => watched.looks >= 2, { what: "the simulator to poll" });
    await simulator.stop();
    const looksAtStop = watched.looks;
    // Another carrier takes a step meanwhile: the stopped one had all that time to look, and did not.
    const store = new ShipmentStore(database.db, { schedule });
    carrier(store);
    const { row } = await store.createOnce(newShipment());
    await waitFor(async () => (await store.get(row.id))?.status === "picked_up", { what: "the other carrier's pickup" });
    expect(watched.looks).toBe(looksAtStop);
  });
});
