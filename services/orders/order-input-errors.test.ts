import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { create } from "@bufbuild/protobuf";
import { Code } from "@connectrpc/connect";
import { CreateOrderRequestSchema, OrderService } from "../../gen/orders/v1/orders_pb.js";
import { serveOrders, validCreateOrder, type ServedOrders } from "../../tests/support/orders-fixture.js";
import { failure, type RpcPath } from "../../tests/support/rpc-paths.js";
import { sealPageToken } from "./page-token.js";

// Inputs that used to reach PostgreSQL (or Date) and fail there as INTERNAL: over the network, on every
// protocol, each must be INVALID_ARGUMENT naming the field, and nothing may be stored.
let served: ServedOrders;
let paths: RpcPath[];
const pageTokenKey = randomBytes(32);

beforeAll(async () => {
  served = await serveOrders({ pageTokenKey });
  ({ paths } = served);
});

afterAll(async () => served?.close());

const nul = "a\u0000b";
const orderId = "5f0c6c1e-7c43-4c5e-9d7e-2f2a1c7f9b10";
// Signed with the service's key, so each case reaches the checks behind the signature.
const token = (payload: unknown) => sealPageToken(pageTokenKey, payload);
const unsigned = (payload: unknown) => Buffer.from(JSON.stringify(payload)).toString("base64url");

describe("a NUL character in a string field", () => {
  const base = validCreateOrder();
  const createCases: Array<[string, ReturnType<typeof validCreateOrder>]> = [
    ["customer_id", create(CreateOrderRequestSchema, { ...base, customerId: nul })],
    ["customer_email", create(CreateOrderRequestSchema, { ...base, customerEmail: `ada${nul}@example.com` })],
    ["request_id", create(CreateOrderRequestSchema, { ...base, requestId: nul })],
    ["items[1].sku", create(CreateOrderRequestSchema, { ...base, items: [base.items[0]!, { ...base.items[1]!, sku: nul }] })],
    ["shipping_address.line2", create(CreateOrderRequestSchema, { ...base, shippingAddress: { ...base.shippingAddress!, line2: nul } })],
    ["shipping_address.city", create(CreateOrderRequestSchema, { ...base, shippingAddress: { ...base.shippingAddress!, city: nul } })],
  ];

  it.each(createCases)("of CreateOrder's %s is INVALID_ARGUMENT naming it, on every path, and stores nothing", async (field, request) => {
    for (const path of paths) {
      const err = await failure(path.call(OrderService.method.createOrder, request));
      expect(err.code, path.name).toBe(Code.InvalidArgument);
      expect(err.badRequestFields, path.name).toEqual([field]);
    }
    expect(await served.db.database.sql`select count(*)::int as n from orders`).toEqual([{ n: 0 }]);
  });

  it("of the other RPCs' fields is INVALID_ARGUMENT naming it, on every path", async () => {
    const calls = [
      [OrderService.method.getOrder, { id: nul }, "id"],
      [OrderService.method.listOrders, { customerId: nul }, "customer_id"],
      [OrderService.method.listOrders, { customerId: "c-1", pageToken: nul }, "page_token"],
      [OrderService.method.cancelOrder, { id: orderId, reason: nul }, "reason"],
    ] as const;
    for (const path of paths) {
      for (const [method, request, field] of calls) {
        const err = await failure(path.call(method as typeof OrderService.method.getOrder, request as never));
        expect(err.code, `${path.name} ${method.name}`).toBe(Code.InvalidArgument);
        expect(err.badRequestFields, `${path.name} ${method.name}`).toEqual([field]);
      }
    }
  });

  it("is reported for at most 20 fields of one request", async () => {
    const items = Array.from({ length: 30 }, () => ({ sku: nul, quantity: 1, unitPriceCents: 1n }));
    const err = await failure(paths[0]!.call(OrderService.method.createOrder, validCreateOrder({ items })));
    expect(err.badRequestFields).toEqual(Array.from({ length: 20 }, (_, i) => `items[${i}].sku`));
  });
});

describe("a ListOrders page_token that is not ours", () => {
  it.each([
    ["garbage", "garbage!"],
    ["an unsigned token (the format before signing)", unsigned({ v: 1, c: "c-1", t: 1700000000000, i: orderId })],
    ["a token signed with another key", sealPageToken(randomBytes(32), { v: 1, c: "c-1", t: 1700000000000, i: orderId })],
    ["a token far longer than any ListOrders makes", `${"a".repeat(100_000)}.${"b".repeat(43)}`],
    ["JSON null", token(null)],
    ["a JSON number", token(42)],
    ["an array", token([1, "c-1"])],
    ["a time beyond what a Date holds", token({ v: 1, c: "c-1", t: 1e20, i: orderId })],
    ["a time beyond year 9999", token({ v: 1, c: "c-1", t: 8.64e15, i: orderId })],
    ["a negative time", token({ v: 1, c: "c-1", t: -1, i: orderId })],
    ["a fractional time", token({ v: 1, c: "c-1", t: 1.5, i: orderId })],
    ["a time as a string", token({ v: 1, c: "c-1", t: "1700000000000", i: orderId })],
    ["an id that is no UUID", token({ v: 1, c: "c-1", t: 1700000000000, i: "x" })],
  ])("(%s) is INVALID_ARGUMENT naming page_token, on every path", async (_what, pageToken) => {
    for (const path of paths) {
      const err = await failure(path.call(OrderService.method.listOrders, { customerId: "c-1", pageToken }));
      expect(err.code, path.name).toBe(Code.InvalidArgument);
      expect(err.badRequestFields, path.name).toEqual(["page_token"]);
    }
  });

  it("is refused when one ListOrders returned is changed (another position, same signature)", async () => {
    for (const requestId of ["tamper-1", "tamper-2"]) await paths[0]!.call(OrderService.method.createOrder, validCreateOrder({ customerId: "tamper", requestId }));
    const first = await paths[0]!.call(OrderService.method.listOrders, { customerId: "tamper", pageSize: 1 });
    const [payload, signature] = first.nextPageToken.split(".");
    const position = JSON.parse(Buffer.from(payload!, "base64url").toString("utf8")) as { t: number };
    const moved = Buffer.from(JSON.stringify({ ...position, t: position.t + 60_000 })).toString("base64url");
    for (const path of paths) {
      const err = await failure(path.call(OrderService.method.listOrders, { customerId: "tamper", pageSize: 1, pageToken: `${moved}.${signature}` }));
      expect(err.code, path.name).toBe(Code.InvalidArgument);
      expect(err.badRequestFields, path.name).toEqual(["page_token"]);
      expect(err.message, path.name).toContain("signature");
    }
  });

  it("is still accepted when it is one ListOrders returned", async () => {
    for (const requestId of ["page-1", "page-2"]) await paths[0]!.call(OrderService.method.createOrder, validCreateOrder({ customerId: "pager", requestId }));
    const first = await paths[0]!.call(OrderService.method.listOrders, { customerId: "pager", pageSize: 1 });
    for (const path of paths) {
      const next = await path.call(OrderService.method.listOrders, { customerId: "pager", pageSize: 1, pageToken: first.nextPageToken });
      expect(next.orders.map((o) => o.id), path.name).toHaveLength(1);
      expect(next.orders[0]!.id, path.name).not.toBe(first.orders[0]!.id);
    }
  });
});
