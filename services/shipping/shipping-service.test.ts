import { randomUUID } from "node:crypto";
import { create, equals } from "@bufbuild/protobuf";
import { Code, type HandlerContext, type ServiceImpl } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { anyUnpack } from "@bufbuild/protobuf/wkt";
import { BadRequestSchema } from "../../gen/google/rpc/error_details_pb.js";
import {
  CancelShipmentRequestSchema,
  CancelShipmentResponseSchema,
  CreateShipmentRequestSchema,
  CreateShipmentResponseSchema,
  CreateShipmentsRequestSchema,
  CreateShipmentsResponseSchema,
  UpdateShipmentStatusRequestSchema,
  UpdateShipmentStatusResponseSchema,
  GetShipmentByOrderRequestSchema,
  GetShipmentByOrderResponseSchema,
  GetShipmentRequestSchema,
  GetShipmentResponseSchema,
  ShipmentSchema,
  ShipmentStatus,
  ShippingService,
} from "../../gen/shipping/v1/shipping_pb.js";
import type { Database } from "../platform/db/index.js";
import { handlerContext } from "../../tests/support/handler-context.js";
import { expectCode, expectInvalidArgument } from "../../tests/support/rpc-assertions.js";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { shipmentRequest } from "../../tests/support/shipping-harness.js";
import { openShippingDatabase } from "./db/open-database.js";
import { createTestDatabase, type TestDatabase } from "../../tests/support/test-database.js";
import type * as schema from "./db/schema.js";
import { ShipmentStore } from "./shipment-store.js";
import { allowAnyCaller } from "./shipping-access.js";
import { createShippingService } from "./shipping-service.js";

// Layer 1: the handlers as a plain object over a real database, no network in between.
let testDb: TestDatabase;
let database: Database<typeof schema>;
let store: ShipmentStore;
let service: ServiceImpl<typeof ShippingService>;

beforeAll(async () => {
  testDb = await createTestDatabase("shipping_handlers");
  database = await openShippingDatabase(testDb.url, 10);
  store = new ShipmentStore(database.db);
  // The access policy has its own tests (shipping-identity.test.ts); these are about the handlers' rules.
  service = createShippingService(store, allowAnyCaller);
});

afterAll(async () => {
  await database?.close();
  await testDb?.drop();
});

function ctx(method: keyof typeof ShippingService.method = "createShipment"): HandlerContext {
  return handlerContext(ShippingService, method);
}

// The handlers may return plain init objects; create() turns them into messages so results compare with equals().
async function createShipment(overrides: Parameters<typeof shipmentRequest>[0] = {}) {
  return create(CreateShipmentResponseSchema, await service.createShipment(create(CreateShipmentRequestSchema, shipmentRequest(overrides)), ctx()));
}
async function getShipment(id: string) {
  return create(GetShipmentResponseSchema, await service.getShipment(create(GetShipmentRequestSchema, { id }), ctx("getShipment")));
}
async function getShipmentByOrder(orderId: string) {
  return create(
    GetShipmentByOrderResponseSchema,
    await service.getShipmentByOrder(create(GetShipmentByOrderRequestSchema, { orderId }), ctx("getShipmentByOrder")),
  );
}
async function cancel(id: string) {
  return cancelBy({ id });
}
async function cancelBy(target: { id?: string; orderId?: string }) {
  return create(CancelShipmentResponseSchema, await service.cancelShipment(create(CancelShipmentRequestSchema, target), ctx("cancelShipment")));
}
async function createShipments(requests: Array<Parameters<typeof shipmentRequest>[0]>) {
  return create(
    CreateShipmentsResponseSchema,
    await service.createShipments(create(CreateShipmentsRequestSchema, { requests: requests.map((r) => create(CreateShipmentRequestSchema, r)) }), ctx("createShipments")),
  );
}
async function updateStatus(init: { id: string; status: ShipmentStatus; trackingNumber?: string; occurTime?: Date }) {
  const { occurTime, ...rest } = init;
  const req = create(UpdateShipmentStatusRequestSchema, { ...rest, ...(occurTime ? { occurTime: timestampFromDate(occurTime) } : {}) });
  return create(UpdateShipmentStatusResponseSchema, await service.updateShipmentStatus(req, ctx("updateShipmentStatus")));
}

const validAddress = shipmentRequest().address!;

describe("CreateShipment validation", () => {
  it.each([
    ["empty", ""],
    ["not a uuid", "order-1"],
    ["a uuid missing a digit", "123e4567-e89b-12d3-a456-42661417400"],
  ])("rejects an order_id that is %s", async (_, orderId) => {
    await expectInvalidArgument(createShipment({ orderId }), ["order_id"]);
  });

  it("requires an address", async () => {
    await expectInvalidArgument(createShipment({ address: undefined }), ["address"]);
  });

  it.each([
    ["name", "name"],
    ["line1", "line1"],
    ["city", "city"],
    ["postal_code", "postalCode"],
    ["country", "country"],
  ] as const)("requires address.%s (blank or whitespace)", async (field, key) => {
    await expectInvalidArgument(createShipment({ address: { ...validAddress, [key]: "" } }), [`address.${field}`]);
    await expectInvalidArgument(createShipment({ address: { ...validAddress, [key]: "  \t" } }), [`address.${field}`]);
  });

  it("accepts an empty address.line2", async () => {
    const res = await createShipment({ address: { ...validAddress, line2: "" } });
    expect(res.shipment?.address?.line2).toBe("");
  });

  it("requires at least one item", async () => {
    await expectInvalidArgument(createShipment({ items: [] }), ["items"]);
  });

  it("requires a sku on every item and names its index", async () => {
    await expectInvalidArgument(createShipment({ items: [{ sku: "A", quantity: 1 }, { sku: " ", quantity: 1 }] }), ["items[1].sku"]);
  });

  it.each([0, -3])("rejects quantity %i", async (quantity) => {
    await expectInvalidArgument(createShipment({ items: [{ sku: "A", quantity }] }), ["items[0].quantity"]);
  });

  it.each([
    ["name", { name: "n".repeat(201) }],
    ["line1", { line1: "l".repeat(201) }],
    ["line2", { line2: "l".repeat(201) }],
    ["city", { city: "c".repeat(201) }],
    ["postal_code", { postalCode: "1".repeat(21) }],
    ["country", { country: "ZZ" }],
    ["country", { country: "UK" }],
    ["country", { country: "de" }],
    ["country", { country: "Germany" }],
  ] as const)("rejects a bad address.%s like CreateOrder does", async (field, change) => {
    await expectInvalidArgument(createShipment({ address: { ...validAddress, ...change } }), [`address.${field}`]);
  });

  it("rejects more than 1000 items", async () => {
    const items = Array.from({ length: 1001 }, (_, i) => ({ sku: `S-${i}`, quantity: 1 }));
    await expectInvalidArgument(createShipment({ items }), ["items"]);
  });

  it("rejects a sku longer than 64 characters and a quantity above 10000", async () => {
    await expectInvalidArgument(createShipment({ items: [{ sku: "S".repeat(65), quantity: 10_001 }] }), ["items[0].sku", "items[0].quantity"]);
  });

  it("accepts the edges of every range", async () => {
    const edge = "x".repeat(200);
    const address = { name: edge, line1: edge, line2: edge, city: edge, postalCode: "9".repeat(20), country: "JP" };
    const items = [{ sku: "S".repeat(64), quantity: 10_000 }, ...Array.from({ length: 999 }, (_, i) => ({ sku: `S-${i}`, quantity: 1 }))];
    const { shipment } = await createShipment({ address, items });
    expect(shipment?.address).toMatchObject(address);
    expect(shipment?.items).toHaveLength(1000);
  });

  it("reports every violation of one request at once", async () => {
    await expectInvalidArgument(
      createShipment({ orderId: "x", address: { ...validAddress, city: "" }, items: [{ sku: "", quantity: 0 }] }),
      ["order_id", "address.city", "items[0].sku", "items[0].quantity"],
    );
  });

  it("stores nothing for an invalid request", async () => {
    const orderId = randomUUID();
    await expectInvalidArgument(createShipment({ orderId, items: [] }), ["items"]);
    expect(await store.getByOrder(orderId)).toBeUndefined();
  });
});

describe("CreateShipment", () => {
  it("creates a pending shipment with carrier, tracking number, address and items", async () => {
    const req = shipmentRequest();
    const { shipment } = await createShipment(req);
    expect(shipment).toMatchObject({ orderId: req.orderId, status: ShipmentStatus.PENDING, carrier: "DHL", items: [{ sku: "BOOK-1", quantity: 2 }] });
    expect(shipment?.trackingNumber).toMatch(/^OM\d{10}$/);
    expect(shipment?.address).toMatchObject(req.address!);
    expect(shipment?.createTime).toBeDefined();
  });

  it("is idempotent per order_id: a second call returns the first shipment unchanged", async () => {
    const orderId = randomUUID();
    const first = await createShipment({ orderId });
    const second = await createShipment({ orderId, items: [{ sku: "OTHER", quantity: 9 }] });
    expect(equals(ShipmentSchema, first.shipment!, second.shipment!)).toBe(true);
  });

  it("treats an upper-case order_id as the same order", async () => {
    const orderId = randomUUID();
    const first = await createShipment({ orderId });
    const second = await createShipment({ orderId: orderId.toUpperCase() });
    expect(second.shipment?.id).toBe(first.shipment?.id);
  });

  it("gives N concurrent calls for one order the same shipment and stores one row", async () => {
    const orderId = randomUUID();
    const results = await Promise.all(Array.from({ length: 16 }, () => createShipment({ orderId })));
    expect(new Set(results.map((r) => r.shipment?.id)).size).toBe(1);
    const [{ count }] = (await database.sql`select count(*)::int as count from shipments where order_id = ${orderId}`) as unknown as [{ count: number }];
    expect(count).toBe(1);
  });
});

describe("GetShipment and GetShipmentByOrder", () => {
  it("return the created shipment", async () => {
    const { shipment } = await createShipment();
    const byId = await getShipment(shipment!.id);
    const byOrder = await getShipmentByOrder(shipment!.orderId);
    expect(equals(ShipmentSchema, byId.shipment!, shipment!)).toBe(true);
    expect(equals(ShipmentSchema, byOrder.shipment!, shipment!)).toBe(true);
  });

  it("answer NOT_FOUND for unknown ids", async () => {
    await expectCode(getShipment(randomUUID()), Code.NotFound);
    await expectCode(getShipmentByOrder(randomUUID()), Code.NotFound);
  });

  it.each(["", "nope", "00000000-0000-0000-0000-00000000000g"])("answer INVALID_ARGUMENT for malformed id %j", async (id) => {
    await expectInvalidArgument(getShipment(id), ["id"]);
    await expectInvalidArgument(getShipmentByOrder(id), ["order_id"]);
  });
});

describe("CancelShipment", () => {
  it("cancels a pending shipment, and a second cancel is harmless", async () => {
    const { shipment } = await createShipment();
    const first = await cancel(shipment!.id);
    expect(first.shipment?.status).toBe(ShipmentStatus.CANCELLED);
    const second = await cancel(shipment!.id);
    expect(second.shipment?.status).toBe(ShipmentStatus.CANCELLED);
    expect(second.shipment?.id).toBe(shipment!.id);
    expect((await store.get(shipment!.id))?.status).toBe("cancelled");
  });

  it.each(["in_transit", "delivered"] as const)("refuses a %s shipment with FAILED_PRECONDITION and leaves it as it is", async (status) => {
    const { shipment } = await createShipment();
    await store.updateStatus(shipment!.id, status);
    const err = await expectCode(cancel(shipment!.id), Code.FailedPrecondition);
    expect(err.rawMessage).toContain(status);
    expect((await store.get(shipment!.id))?.status).toBe(status);
  });

  it("answers NOT_FOUND for an unknown shipment and INVALID_ARGUMENT for a malformed id", async () => {
    await expectCode(cancel(randomUUID()), Code.NotFound);
    await expectInvalidArgument(cancel("42"), ["id"]);
  });
});

describe("CancelShipment by order_id", () => {
  it("names the shipment by id or by order_id, exactly one of them", async () => {
    const { shipment } = await createShipment();
    await expectInvalidArgument(cancelBy({}), ["id", "order_id"]);
    await expectInvalidArgument(cancelBy({ id: shipment!.id, orderId: shipment!.orderId }), ["id", "order_id"]);
    await expectInvalidArgument(cancelBy({ orderId: "nope" }), ["order_id"]);
    expect((await cancelBy({ orderId: shipment!.orderId.toUpperCase() })).shipment).toMatchObject({ id: shipment!.id, status: ShipmentStatus.CANCELLED, version: 2n });
  });

  it("before the shipment exists: answers a cancelled empty shipment, which a later CreateShipment returns", async () => {
    const orderId = randomUUID();
    const { shipment: tombstone } = await cancelBy({ orderId });
    expect(tombstone).toMatchObject({ orderId, status: ShipmentStatus.CANCELLED, carrier: "", trackingNumber: "", items: [], version: 1n });
    const { shipment } = await createShipment({ orderId });
    expect(equals(ShipmentSchema, shipment!, tombstone!)).toBe(true);
  });

  it("refuses a picked-up shipment with FAILED_PRECONDITION", async () => {
    const { shipment } = await createShipment();
    await updateStatus({ id: shipment!.id, status: ShipmentStatus.PICKED_UP });
    const err = await expectCode(cancelBy({ orderId: shipment!.orderId }), Code.FailedPrecondition);
    expect(err.rawMessage).toContain("picked_up and can no longer be cancelled");
  });
});

describe("CreateShipments", () => {
  it("answers each request on its own, in order: shipments for the valid ones, CreateShipment's error for the others", async () => {
    const existing = (await createShipment()).shipment!;
    const a = shipmentRequest();
    const res = await createShipments([a, shipmentRequest({ orderId: "not-a-uuid" }), { ...shipmentRequest(), orderId: existing.orderId }, shipmentRequest({ items: [] }), a]);
    expect(res.results.map((r) => r.result.case)).toEqual(["shipment", "error", "shipment", "error", "shipment"]);
    const [first, badId, again, noItems, repeat] = res.results.map((r) => r.result);
    expect(first!.value).toMatchObject({ orderId: a.orderId, status: ShipmentStatus.PENDING, version: 1n });
    expect(equals(ShipmentSchema, again!.value as never, existing)).toBe(true);
    expect(equals(ShipmentSchema, repeat!.value as never, first!.value as never)).toBe(true);
    for (const [result, field, message] of [
      [badId, "order_id", "order_id: must be a UUID"],
      [noItems, "items", "items: needs at least one item"],
    ] as const) {
      expect(result!.case).toBe("error");
      const status = result!.value as { code: number; message: string; details: Parameters<typeof anyUnpack>[0][] };
      expect(status.code).toBe(Code.InvalidArgument);
      expect(status.message).toBe(message);
      expect(status.details.map((d) => anyUnpack(d, BadRequestSchema)?.fieldViolations.map((v) => v.field))).toEqual([[field]]);
    }
    expect(await store.getByOrder(a.orderId)).toMatchObject({ id: (first!.value as { id: string }).id });
  });

  it("answers a batch of nothing but invalid requests without storing anything", async () => {
    const orderId = randomUUID();
    const res = await createShipments([shipmentRequest({ orderId, items: [] })]);
    expect(res.results.map((r) => r.result.case)).toEqual(["error"]);
    expect(await store.getByOrder(orderId)).toBeUndefined();
  });

  it.each([0, 501])("refuses a batch of %i requests", async (n) => {
    await expectInvalidArgument(
      createShipments(Array.from({ length: n }, () => shipmentRequest())),
      ["requests"],
    );
  });

  it("takes 500 requests in one call", async () => {
    const res = await createShipments(Array.from({ length: 500 }, () => shipmentRequest()));
    expect(res.results.filter((r) => r.result.case === "shipment")).toHaveLength(500);
  });
});

describe("UpdateShipmentStatus", () => {
  it("moves a shipment along, keeps or replaces its tracking number, and repeats idempotently", async () => {
    const { shipment } = await createShipment();
    const picked = (await updateStatus({ id: shipment!.id, status: ShipmentStatus.PICKED_UP, trackingNumber: "1Z999" })).shipment!;
    expect(picked).toMatchObject({ status: ShipmentStatus.PICKED_UP, trackingNumber: "1Z999", version: 2n });
    const repeat = (await updateStatus({ id: shipment!.id, status: ShipmentStatus.PICKED_UP, trackingNumber: "1Z999" })).shipment!;
    expect(equals(ShipmentSchema, repeat, picked)).toBe(true);
    const delivered = (await updateStatus({ id: shipment!.id, status: ShipmentStatus.DELIVERED, occurTime: new Date() })).shipment!;
    expect(delivered).toMatchObject({ status: ShipmentStatus.DELIVERED, trackingNumber: "1Z999", version: 3n });
  });

  it("refuses moves the shipment's life does not allow with FAILED_PRECONDITION", async () => {
    const { shipment } = await createShipment();
    await updateStatus({ id: shipment!.id, status: ShipmentStatus.DELIVERED });
    const back = await expectCode(updateStatus({ id: shipment!.id, status: ShipmentStatus.IN_TRANSIT }), Code.FailedPrecondition);
    expect(back.rawMessage).toContain("is delivered; it cannot go back to in_transit");
    const { shipment: other } = await createShipment();
    await updateStatus({ id: other!.id, status: ShipmentStatus.CANCELLED });
    const late = await expectCode(updateStatus({ id: other!.id, status: ShipmentStatus.PICKED_UP }), Code.FailedPrecondition);
    expect(late.rawMessage).toContain("was cancelled; it cannot become picked_up");
  });

  it("checks id, status and tracking_number, naming every bad field", async () => {
    await expectInvalidArgument(updateStatus({ id: "x", status: ShipmentStatus.UNSPECIFIED, trackingNumber: "T".repeat(65) }), ["id", "status", "tracking_number"]);
    await expectInvalidArgument(updateStatus({ id: randomUUID(), status: ShipmentStatus.PENDING }), ["status"]);
    await expectInvalidArgument(updateStatus({ id: randomUUID(), status: 99 as ShipmentStatus }), ["status"]);
    const { shipment } = await createShipment();
    expect((await updateStatus({ id: shipment!.id, status: ShipmentStatus.IN_TRANSIT, trackingNumber: "T".repeat(64) })).shipment?.trackingNumber).toHaveLength(64);
  });

  it("answers NOT_FOUND for an unknown shipment", async () => {
    await expectCode(updateStatus({ id: randomUUID(), status: ShipmentStatus.DELIVERED }), Code.NotFound);
  });
});
