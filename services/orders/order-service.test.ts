import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { Code, ConnectError, type ServiceImpl } from "@connectrpc/connect";
import { BadRequestSchema } from "../../gen/google/rpc/error_details_pb.js";
import { OrderCreatedSchema } from "../../gen/orders/v1/events_pb.js";
import { ShipmentStatus } from "../../gen/shipping/v1/shipping_pb.js";
import { catalogue, decodeEvent, typeOf, type DecodedEvent } from "../platform/events/index.js";
import {
  type CancelOrderRequest,
  CancelOrderRequestSchema,
  CancelOrderResponseSchema,
  type CreateOrderRequest,
  CreateOrderResponseSchema,
  type GetOrderRequest,
  GetOrderRequestSchema,
  GetOrderResponseSchema,
  type ListOrdersRequest,
  ListOrdersRequestSchema,
  ListOrdersResponseSchema,
  OrderService,
  OrderStatus,
} from "../../gen/orders/v1/orders_pb.js";
import { createOrdersDatabase, orderContext, validCreateOrder, type OrdersDatabase } from "../../tests/support/orders-fixture.js";
import { movedOn, shipmentOf } from "../../tests/support/shipping-events.js";
import { createOrderService } from "./order-service.js";

let db: OrdersDatabase;
let svc: ServiceImpl<typeof OrderService>;

beforeAll(async () => {
  db = await createOrdersDatabase();
  svc = createOrderService({ store: db.store });
});
afterAll(async () => db?.close());

const createOrder = async (req: CreateOrderRequest) => create(CreateOrderResponseSchema, await svc.createOrder(req, orderContext("createOrder")));
const getOrder = async (req: GetOrderRequest) => create(GetOrderResponseSchema, await svc.getOrder(req, orderContext("getOrder")));
const listOrders = async (req: ListOrdersRequest) => create(ListOrdersResponseSchema, await svc.listOrders(req, orderContext("listOrders")));
const cancelOrder = async (req: CancelOrderRequest) => create(CancelOrderResponseSchema, await svc.cancelOrder(req, orderContext("cancelOrder")));

async function rejection(promise: Promise<unknown>): Promise<ConnectError> {
  const err = await promise.then(() => undefined, (e: unknown) => e);
  expect(err).toBeInstanceOf(ConnectError);
  return err as ConnectError;
}

async function expectInvalid(overrides: Parameters<typeof validCreateOrder>[0], field: string) {
  const err = await rejection(createOrder(validCreateOrder(overrides)));
  expect(err.code).toBe(Code.InvalidArgument);
  expect(err.rawMessage).toContain(field);
  const [details] = err.findDetails(BadRequestSchema);
  expect(details?.fieldViolations.map((v) => v.field)).toContain(field);
}

describe("CreateOrder validation", () => {
  const address = validCreateOrder().shippingAddress!;
  it.each([
    ["customer_id", { customerId: "" }],
    ["customer_id", { customerId: "x".repeat(129) }],
    ["customer_email", { customerEmail: "not-an-email" }],
    ["customer_email", { customerEmail: "a b@example.com" }],
    ["currency", { currency: "eur" }],
    ["currency", { currency: "EU" }],
    ["currency", { currency: "XYZ" }],
    ["items", { items: [] }],
    ["items[0].sku", { items: [{ sku: "", quantity: 1, unitPriceCents: 1n }] }],
    ["items[0].sku", { items: [{ sku: "S".repeat(65), quantity: 1, unitPriceCents: 1n }] }],
    ["items[0].quantity", { items: [{ sku: "A", quantity: 0, unitPriceCents: 1n }] }],
    ["items[0].quantity", { items: [{ sku: "A", quantity: 10_001, unitPriceCents: 1n }] }],
    ["items[1].unit_price_cents", { items: [{ sku: "A", quantity: 1, unitPriceCents: 1n }, { sku: "B", quantity: 1, unitPriceCents: -1n }] }],
    ["items[0].unit_price_cents", { items: [{ sku: "A", quantity: 1, unitPriceCents: 10n ** 12n }] }],
    ["shipping_address", { shippingAddress: undefined }],
    ["shipping_address.name", { shippingAddress: { ...address, name: " " } }],
    ["shipping_address.line1", { shippingAddress: { ...address, line1: "" } }],
    ["shipping_address.city", { shippingAddress: { ...address, city: "" } }],
    ["shipping_address.postal_code", { shippingAddress: { ...address, postalCode: "" } }],
    ["shipping_address.country", { shippingAddress: { ...address, country: "Germany" } }],
    ["request_id", { requestId: "r".repeat(129) }],
  ] as const)("rejects a bad %s", async (field, overrides) => {
    await expectInvalid(overrides as never, field);
  });

  // ZZ, AA, QM-QZ and XA-XZ are user-assigned (XK included), UK and EU only exceptionally reserved.
  it.each(["ZZ", "AA", "XX", "QQ", "QZ", "XK", "UK", "EU", "de"])("rejects shipping_address.country %j, not an assigned ISO 3166-1 code", async (country) => {
    await expectInvalid({ shippingAddress: { ...address, country } }, "shipping_address.country");
  });

  it.each(["DE", "GB", "US", "JP", "AX", "SS"])("accepts shipping_address.country %s", async (country) => {
    const res = await createOrder(validCreateOrder({ shippingAddress: { ...address, country } }));
    expect(res.order?.shippingAddress?.country).toBe(country);
  });

  it("names every bad field at once", async () => {
    const err = await rejection(createOrder(validCreateOrder({ customerId: "", currency: "x", items: [] })));
    const [details] = err.findDetails(BadRequestSchema);
    expect(details?.fieldViolations.map((v) => v.field).sort()).toEqual(["currency", "customer_id", "items"]);
  });

  it("accepts the edges of every range", async () => {
    const res = await createOrder(
      validCreateOrder({ items: [{ sku: "S".repeat(64), quantity: 10_000, unitPriceCents: 0n }, { sku: "B", quantity: 1, unitPriceCents: 10n ** 11n }] }),
    );
    expect(res.order?.totalCents).toBe(10n ** 11n);
  });
});

describe("CreateOrder", () => {
  it("computes the total on the server and writes the OrderCreated outbox event in the same statement", async () => {
    const { order } = await createOrder(validCreateOrder({ customerId: "total" }));
    expect(order?.totalCents).toBe(2n * 1250n + 499n);
    expect(order?.status).toBe(OrderStatus.PENDING);
    const events = await db.database.sql`select event_name, event_type, payload from outbox where aggregate_id = ${order!.id}`;
    expect(events).toHaveLength(1);
    expect(events[0]!.event_type).toBe(typeOf(catalogue.orderCreated));
    const event = fromBinary(OrderCreatedSchema, events[0]!.payload as Uint8Array);
    expect(event.order?.id).toBe(order!.id);
    expect(event.order?.totalCents).toBe(order!.totalCents);
    expect(event.order?.items.map((i) => i.sku)).toEqual(["SKU-1", "SKU-2"]);
  });

  it("returns the same order for a repeated request_id and writes one event", async () => {
    const req = validCreateOrder({ requestId: "req-repeat" });
    const first = await createOrder(req);
    const second = await createOrder(req);
    expect(second.order?.id).toBe(first.order?.id);
    const [row] = await db.database.sql`select count(*)::int as n from outbox where aggregate_id = ${first.order!.id}`;
    expect(row!.n).toBe(1);
  });

  it("returns one order to concurrent calls with one request_id", async () => {
    const req = validCreateOrder({ requestId: "req-concurrent", customerId: "concurrent" });
    const results = await Promise.all(Array.from({ length: 12 }, () => createOrder(req)));
    expect(new Set(results.map((r) => r.order?.id)).size).toBe(1);
    const [row] = await db.database.sql`select count(*)::int as n from orders where customer_id = 'concurrent'`;
    expect(row!.n).toBe(1);
  });

  it("refuses a request_id reused with a different payload with ALREADY_EXISTS", async () => {
    await createOrder(validCreateOrder({ requestId: "req-reused" }));
    const err = await rejection(createOrder(validCreateOrder({ requestId: "req-reused", customerEmail: "other@example.com" })));
    expect(err.code).toBe(Code.AlreadyExists);
  });
});

describe("GetOrder", () => {
  it("returns a stored order with its lines", async () => {
    const { order } = await createOrder(validCreateOrder());
    const got = await getOrder(create(GetOrderRequestSchema, { id: order!.id }));
    expect(got.order).toEqual(order);
    expect(got.order?.version).toBe(1n);
    expect(got.order?.shipment).toBeUndefined();
  });

  it("returns the shipment as orders' projection holds it, with the order's version", async () => {
    const { order } = await createOrder(validCreateOrder());
    const id = order!.id!;
    await db.store.claimForDispatch(id);
    const shipment = shipmentOf(id);
    await db.store.recordShipment(id, shipment);
    const inTransit = movedOn(shipment, ShipmentStatus.IN_TRANSIT);
    await db.store.trackShipment(id, inTransit, new Date());
    const got = await getOrder(create(GetOrderRequestSchema, { id }));
    expect(got.order).toMatchObject({ status: OrderStatus.SHIPPED, version: 4n, shipmentId: shipment.id });
    expect(got.order?.shipment).toMatchObject({ id: shipment.id, status: ShipmentStatus.IN_TRANSIT, carrier: shipment.carrier, trackingNumber: shipment.trackingNumber, updateTime: inTransit.updateTime });
  });

  it("answers NOT_FOUND for an unknown id and INVALID_ARGUMENT for a malformed one", async () => {
    const missing = await rejection(getOrder(create(GetOrderRequestSchema, { id: "00000000-0000-4000-8000-000000000000" })));
    expect(missing.code).toBe(Code.NotFound);
    const malformed = await rejection(getOrder(create(GetOrderRequestSchema, { id: "42" })));
    expect(malformed.code).toBe(Code.InvalidArgument);
    expect(malformed.rawMessage).toContain("id");
  });
});

describe("ListOrders", () => {
  const list = (customerId: string, pageSize: number, pageToken = "") =>
    (listOrders(create(ListOrdersRequestSchema, { customerId, pageSize, pageToken })));

  it("pages newest first and neither skips nor repeats when orders arrive between pages", async () => {
    const created: string[] = [];
    for (let i = 0; i < 5; i++) created.push((await createOrder(validCreateOrder({ customerId: "pager" }))).order!.id);
    const first = await list("pager", 2);
    expect(first.orders.map((o) => o.id)).toEqual([created[4], created[3]]);
    // New orders land before the cursor (newer), so the following pages are unaffected.
    await createOrder(validCreateOrder({ customerId: "pager" }));
    const second = await list("pager", 2, first.nextPageToken);
    const third = await list("pager", 2, second.nextPageToken);
    expect([...second.orders, ...third.orders].map((o) => o.id)).toEqual([created[2], created[1], created[0]]);
    expect(third.nextPageToken).toBe("");
  });

  it("keeps orders created within the same millisecond apart by id", async () => {
    const ids = (await Promise.all(Array.from({ length: 6 }, () => createOrder(validCreateOrder({ customerId: "burst" }))))).map((r) => r.order!.id);
    const seen: string[] = [];
    let token = "";
    do {
      const page = await list("burst", 1, token);
      seen.push(...page.orders.map((o) => o.id));
      token = page.nextPageToken;
    } while (token);
    expect(seen.sort()).toEqual(ids.sort());
  });

  it("defaults page_size to 50 and lowers it to 500", async () => {
    await Promise.all(Array.from({ length: 51 }, () => createOrder(validCreateOrder({ customerId: "big" }))));
    expect((await list("big", 0)).orders).toHaveLength(50);
    expect((await list("big", 10_000)).orders).toHaveLength(51);
  });

  it("ends a page at 512 KiB of orders (at least one), with a next_page_token, and loses no order across pages", async () => {
    // 1,000 lines with 64-character SKUs encode to ~75 KB; 500 such orders would be a ~38 MB page.
    const items = Array.from({ length: 1000 }, (_, i) => ({ sku: `S${String(i).padStart(63, "0")}`, quantity: 1, unitPriceCents: 1n }));
    const ids = new Set<string>();
    for (let i = 0; i < 9; i++) ids.add((await createOrder(validCreateOrder({ customerId: "heavy", items }))).order!.id);
    const seen: string[] = [];
    let token = "";
    let pages = 0;
    do {
      const page = await list("heavy", 500, token);
      expect(toBinary(ListOrdersResponseSchema, page).byteLength).toBeLessThan(512 * 1024 + 100 * 1024);
      expect(page.orders.length).toBeGreaterThan(0);
      seen.push(...page.orders.map((o) => o.id));
      token = page.nextPageToken;
      pages++;
    } while (token);
    expect(pages).toBeGreaterThan(1);
    expect(new Set(seen)).toEqual(ids);
    expect(seen).toHaveLength(ids.size);
  });

  it("rejects a missing customer, a negative page_size and a foreign or forged token", async () => {
    expect((await rejection(list("", 1))).code).toBe(Code.InvalidArgument);
    expect((await rejection(list("pager", -1))).code).toBe(Code.InvalidArgument);
    const page = await list("pager", 1);
    const foreign = await rejection(list("someone-else", 1, page.nextPageToken));
    expect(foreign.code).toBe(Code.InvalidArgument);
    expect(foreign.rawMessage).toContain("page_token");
    expect((await rejection(list("pager", 1, "garbage!"))).code).toBe(Code.InvalidArgument);
  });
});

describe("CancelOrder", () => {
  const cancel = (id: string, reason = "changed my mind") =>
    (cancelOrder(create(CancelOrderRequestSchema, { id, reason })));
  const eventsOf = async (id: string) =>
    (await db.database.sql`select event_name, payload from outbox where aggregate_id = ${id}`).map((r) => {
      const decoded = decodeEvent("orders", "x", `x.${r.event_name as string}`, r.payload as Uint8Array);
      if (!("key" in decoded)) throw new Error("undecodable outbox row");
      return decoded;
    });
  const reasonOf = (event: DecodedEvent | undefined) => (event && "reason" in event.event ? event.event.reason : undefined);

  /** An order claimed by dispatch, with its shipment recorded: SHIPMENT_REQUESTED. */
  async function handedToShipping(): Promise<string> {
    const { order } = await createOrder(validCreateOrder());
    await db.store.claimForDispatch(order!.id);
    await db.store.recordShipment(order!.id, shipmentOf(order!.id));
    return order!.id;
  }

  it("cancels a pending order at once, with one OrderCancelled event, and a second cancel is harmless", async () => {
    const { order } = await createOrder(validCreateOrder());
    const first = await cancel(order!.id);
    expect(first.order).toMatchObject({ status: OrderStatus.CANCELLED, cancelReason: "changed my mind", version: 2n });
    const second = await cancel(order!.id, "again");
    expect(second.order).toMatchObject({ status: OrderStatus.CANCELLED, cancelReason: "changed my mind", version: 2n });
    const cancelled = (await eventsOf(order!.id)).filter((e) => e.key === "orderCancelled");
    expect(cancelled).toHaveLength(1);
    expect(reasonOf(cancelled[0])).toBe("changed my mind");
  });

  it("asks shipping to cancel a DISPATCH_FAILED order (its last CreateShipment may have landed): CANCELLING", async () => {
    const { order } = await createOrder(validCreateOrder());
    await db.store.claimForDispatch(order!.id);
    await db.store.markDispatchFailed(order!.id);
    expect((await cancel(order!.id)).order?.status).toBe(OrderStatus.CANCELLING);
    const events = await eventsOf(order!.id);
    expect(events.filter((e) => e.key === "orderCancellationRequested")).toHaveLength(1);
    expect(events.filter((e) => e.key === "orderCancelled")).toHaveLength(0);
  });

  it("accepts the cancellation of an order handed to shipping: CANCELLING, with one OrderCancellationRequested", async () => {
    const id = await handedToShipping();
    const first = await cancel(id, "found it cheaper");
    expect(first.order).toMatchObject({ status: OrderStatus.CANCELLING, cancelReason: "found it cheaper", version: 4n });
    // Repeating it changes nothing and asks shipping nothing more.
    const second = await cancel(id, "really");
    expect(second.order).toMatchObject({ status: OrderStatus.CANCELLING, cancelReason: "found it cheaper", version: 4n });
    const requested = (await eventsOf(id)).filter((e) => e.key === "orderCancellationRequested");
    expect(requested).toHaveLength(1);
    expect(reasonOf(requested[0])).toBe("found it cheaper");
    expect(requested[0]!.event).toMatchObject({ order: { status: OrderStatus.CANCELLING, version: 4n } });
  });

  it("refuses a SHIPPED or DELIVERED order with FAILED_PRECONDITION and changes nothing", async () => {
    for (const status of [ShipmentStatus.PICKED_UP, ShipmentStatus.DELIVERED]) {
      const { order } = await createOrder(validCreateOrder());
      const id = order!.id;
      await db.store.claimForDispatch(id);
      const shipment = shipmentOf(id);
      await db.store.recordShipment(id, shipment);
      await db.store.trackShipment(id, movedOn(shipment, status), new Date());
      const before = await db.store.get(id);
      const err = await rejection(cancel(id));
      expect(err.code).toBe(Code.FailedPrecondition);
      expect(await db.store.get(id)).toEqual(before);
    }
  });

  it("answers NOT_FOUND, and INVALID_ARGUMENT for a malformed id or an overlong reason", async () => {
    expect((await rejection(cancel("00000000-0000-4000-8000-000000000000"))).code).toBe(Code.NotFound);
    expect((await rejection(cancel("nope"))).code).toBe(Code.InvalidArgument);
    const { order } = await createOrder(validCreateOrder());
    expect((await rejection(cancel(order!.id, "x".repeat(501)))).code).toBe(Code.InvalidArgument);
    expect((await cancel(order!.id, "x".repeat(500))).order?.status).toBe(OrderStatus.CANCELLED);
  });
});
