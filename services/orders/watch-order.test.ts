import { randomUUID } from "node:crypto";
import { create } from "@bufbuild/protobuf";
import { timestampFromMs, timestampMs } from "@bufbuild/protobuf/wkt";
import { Code } from "@connectrpc/connect";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { type Order, OrderService, OrderStatus, ShipmentSummarySchema, WatchOrderRequestSchema } from "../../gen/orders/v1/orders_pb.js";
import { ShipmentStatus } from "../../gen/shipping/v1/shipping_pb.js";
import { readAuthConfig } from "../platform/process/index.js";
import { createCallerAuthenticator } from "../platform/identity/index.js";
import type { ServiceHost } from "../platform/rpc/index.js";
import { createJetStreamFixture, type JetStreamFixture } from "../../tests/support/jetstream-fixture.js";
import { runBuf } from "../../tests/support/buf-cli.js";
import { publishOrderChange } from "../../tests/support/order-changes.js";
import { createOrdersDatabase, orderContext, startOrdersHost, validCreateOrder, type OrdersDatabase } from "../../tests/support/orders-fixture.js";
import { rpcPaths, type RpcPath } from "../../tests/support/rpc-paths.js";
import { testLogger } from "../../tests/support/shipping-harness.js";
import { collect, streamPaths, type StreamPath } from "../../tests/support/stream-paths.js";
import { createTestIssuer, type TestIssuer } from "../../tests/support/test-issuer.js";
import { waitFor } from "../../tests/support/wait-for.js";
import { OrderWatchHub } from "./order-watch-hub.js";
import { orderToProto } from "./order-mapping.js";
import type { OrderStore } from "./order-store.js";
import { startOutboxRelay, type OutboxRelay } from "../platform/events/index.js";
import { outboxChannel } from "./db/schema.js";
import { watchOrder } from "./watch-order.js";

// Layer 2: WatchOrder on a real host (every stream path: grpc-js, Connect's gRPC, Connect and gRPC-Web
// over HTTP/1.1 and h2c), behind real authentication, fed by real NATS through the hub, with the outbox
// relay publishing what CancelOrder commits.
const maxWatchers = 3;
let db: OrdersDatabase;
let events: JetStreamFixture;
let issuer: TestIssuer;
let hub: OrderWatchHub;
let relay: OutboxRelay;
let host: ServiceHost;
let streams: StreamPath[];
let unary: RpcPath;

beforeAll(async () => {
  [db, events, issuer] = await Promise.all([createOrdersDatabase(), createJetStreamFixture(), createTestIssuer()]);
  hub = new OrderWatchHub({
    subjectPrefix: events.subjectPrefix,
    maxWatchers,
    readOrder: async (id) => {
      const order = await db.store.get(id);
      return order && orderToProto(order);
    },
    logger: testLogger,
  });
  await hub.attach(events.nc);
  relay = await startOutboxRelay({ sql: db.database.sql, nc: events.nc, logger: testLogger, family: "orders", channel: outboxChannel, subjectPrefix: events.subjectPrefix });
  host = await startOrdersHost(db.store, { authenticator: await createCallerAuthenticator(readAuthConfig(issuer.env)), watchHub: hub });
  streams = streamPaths(host.grpcPort, host.webPort!);
  unary = rpcPaths(host.grpcPort, host.webPort!)[0]!;
});

afterEach(async () => {
  // Every test ends its streams; a watcher left behind would be a leak of the handler.
  await waitFor(() => hub.size === 0, { what: "no watcher left" });
});

afterAll(async () => {
  streams?.forEach((p) => p.close());
  unary?.close();
  await host?.stop();
  hub?.close();
  await relay?.stop();
  await Promise.all([db?.close(), events?.close(), issuer?.remove()]);
});

/** Places an order as the customer and returns it. */
async function placeOrder(customer: string): Promise<Order> {
  const { order } = await unary.call(OrderService.method.createOrder, validCreateOrder({ customerId: "", customerEmail: "" }), { headers: await issuer.header(customer) });
  return order!;
}

/** The order one step later: version + steps, updated steps ms later, with these changes. */
function later(order: Order, steps: number, changes: Partial<Order>): Order {
  return { ...order, ...changes, version: order.version + BigInt(steps), updateTime: timestampFromMs(timestampMs(order.updateTime!) + steps) };
}

const watch = OrderService.method.watchOrder;

describe("WatchOrder", () => {
  it("sends the order now, then each newer state published as an orders event, and ends OK on a final status, on every path", async () => {
    for (const path of streams) {
      const placed = await placeOrder("alice");
      const { messages, ended } = collect(path, watch, { id: placed.id }, { headers: await issuer.header("alice") });
      await waitFor(() => messages.length === 1, { what: `${path.name}: the first message` });
      const first = messages[0]!.order!;
      expect(first, path.name).toMatchObject({ id: placed.id, status: OrderStatus.PENDING, version: placed.version, customerId: "alice" });
      expect(first.updateTime, path.name).toEqual(placed.updateTime);

      await publishOrderChange(events.js, events.subjectPrefix, "orderUpdated", later(first, 1, { status: OrderStatus.SHIPMENT_REQUESTED }));
      await waitFor(() => messages.length === 2, { what: `${path.name}: the update` });
      // A stale copy (a redelivered created event) is not a change; the shipment is.
      await publishOrderChange(events.js, events.subjectPrefix, "orderCreated", first);
      const shipment = create(ShipmentSummarySchema, { id: randomUUID(), status: ShipmentStatus.PICKED_UP, carrier: "DHL", trackingNumber: "JJD0001" });
      await publishOrderChange(events.js, events.subjectPrefix, "orderShipped", later(first, 2, { status: OrderStatus.SHIPPED, shipment }));
      await waitFor(() => messages.length === 3, { what: `${path.name}: the shipment` });
      await publishOrderChange(events.js, events.subjectPrefix, "orderDelivered", later(first, 3, { status: OrderStatus.DELIVERED, shipment }));

      expect(await ended, path.name).toEqual({ code: "OK", message: "" });
      expect(messages.map((m) => m.order?.status), path.name).toEqual([OrderStatus.PENDING, OrderStatus.SHIPMENT_REQUESTED, OrderStatus.SHIPPED, OrderStatus.DELIVERED]);
      expect(messages[2]!.order?.shipment, path.name).toMatchObject({ carrier: "DHL", trackingNumber: "JJD0001" });
      await waitFor(() => hub.size === 0, { what: `${path.name}: the watcher gone` });
    }
  });

  it("misses no change committed while its first read runs: the watcher is registered before the read", async () => {
    const placed = await placeOrder("alice");
    // A store whose read returns the order as it was, after a change of it was published meanwhile.
    const racing = {
      async get(id: string) {
        const row = await db.store.get(id);
        await publishOrderChange(events.js, events.subjectPrefix, "orderUpdated", later(orderToProto(row!), 1, { status: OrderStatus.SHIPMENT_REQUESTED }));
        // The PONG follows every message the server sent this connection before it, the event included.
        await events.nc.flush();
        return row;
      },
    } as unknown as OrderStore;
    // Bounded: were the change missed, the stream would wait for it forever.
    const stream = watchOrder(hub, racing, create(WatchOrderRequestSchema, { id: placed.id }), orderContext("watchOrder", AbortSignal.timeout(10_000)));
    const statuses: OrderStatus[] = [];
    // The relay may deliver the order's created event first (the same state the read returns); the
    // change published during the read must follow it.
    for await (const { order } of stream) {
      statuses.push(order!.status);
      if (order!.version === placed.version + 1n) break;
    }
    expect(statuses.at(-1)).toBe(OrderStatus.SHIPMENT_REQUESTED);
    expect(statuses.slice(0, -1).every((s) => s === OrderStatus.PENDING)).toBe(true);
  });

  it("ends OK with CANCELLED once CancelOrder's event comes through the outbox relay", async () => {
    for (const path of [streams[0]!, streams[3]!]) {
      const placed = await placeOrder("alice");
      const { messages, ended } = collect(path, watch, { id: placed.id }, { headers: await issuer.header("alice") });
      await waitFor(() => messages.length === 1, { what: `${path.name}: the first message` });
      await unary.call(OrderService.method.cancelOrder, { id: placed.id, reason: "changed my mind" }, { headers: await issuer.header("alice") });
      expect(await ended, path.name).toEqual({ code: "OK", message: "" });
      expect(messages.map((m) => m.order?.status), path.name).toEqual([OrderStatus.PENDING, OrderStatus.CANCELLED]);
      expect(messages[1]!.order?.cancelReason).toBe("changed my mind");
    }
  });

  it("serves grpcurl-style clients: buf curl watches with nothing but server reflection, until the order is cancelled", async () => {
    const placed = await placeOrder("alice");
    const alice = await issuer.header("alice");
    const curl = runBuf([
      "curl",
      "--protocol",
      "grpc",
      "--http2-prior-knowledge",
      "-H",
      `authorization: ${alice.authorization}`,
      "-d",
      JSON.stringify({ id: placed.id }),
      `http://127.0.0.1:${host.grpcPort}/orders.v1.OrderService/WatchOrder`,
    ]);
    await waitFor(() => hub.size === 1, { what: "buf curl watching", timeoutMs: 30_000 });
    await unary.call(OrderService.method.cancelOrder, { id: placed.id, reason: "seen by buf curl" }, { headers: alice });
    const { code, stdout, stderr } = await curl;
    expect(code, stderr).toBe(0);
    // buf curl prints each message as a JSON object, in order.
    const statuses = [...stdout.matchAll(/"status": "(ORDER_STATUS_\w+)"/g)].map((m) => m[1]);
    expect(statuses).toEqual(["ORDER_STATUS_PENDING", "ORDER_STATUS_CANCELLED"]);
    expect(stdout).toContain("seen by buf curl");
  }, 60_000);

  it("sends an order already in a final status once and ends OK", async () => {
    const placed = await placeOrder("alice");
    await unary.call(OrderService.method.cancelOrder, { id: placed.id }, { headers: await issuer.header("alice") });
    for (const path of streams) {
      const { messages, ended } = collect(path, watch, { id: placed.id }, { headers: await issuer.header("alice") });
      expect(await ended, path.name).toEqual({ code: "OK", message: "" });
      expect(messages.map((m) => m.order?.status), path.name).toEqual([OrderStatus.CANCELLED]);
    }
  });

  it("answers another customer's order NOT_FOUND like a missing one, and a malformed id INVALID_ARGUMENT, on every path", async () => {
    const placed = await placeOrder("alice");
    const missing = randomUUID();
    for (const path of streams) {
      const bob = await issuer.header("bob");
      expect(await collect(path, watch, { id: placed.id }, { headers: bob }).ended, path.name).toEqual({ code: Code.NotFound, message: `order ${placed.id} not found` });
      expect(await collect(path, watch, { id: missing }, { headers: bob }).ended, path.name).toEqual({ code: Code.NotFound, message: `order ${missing} not found` });
      const malformed = await collect(path, watch, { id: "nope" }, { headers: bob }).ended;
      expect(malformed.code, path.name).toBe(Code.InvalidArgument);
      expect((await collect(path, watch, { id: placed.id }).ended).code, path.name).toBe(Code.Unauthenticated);
    }
    // An admin may watch anyone's order.
    const admin = collect(streams[0]!, watch, { id: placed.id }, { headers: await issuer.header("ops", { admin: true }) });
    const cancel = new AbortController();
    const adminWatch = collect(streams[0]!, watch, { id: placed.id }, { headers: await issuer.header("ops", { admin: true }), signal: cancel.signal });
    await waitFor(() => adminWatch.messages.length === 1 && admin.messages.length === 1, { what: "the admin's first messages" });
    await unary.call(OrderService.method.cancelOrder, { id: placed.id }, { headers: await issuer.header("alice") });
    expect((await admin.ended).code).toBe("OK");
    expect((await adminWatch.ended).code).toBe("OK");
  });

  it(`refuses watcher ${maxWatchers + 1} with RESOURCE_EXHAUSTED (MAX_WATCHERS) on every path; a cancelled one frees its place`, async () => {
    const placed = await placeOrder("alice");
    const alice = await issuer.header("alice");
    const cancels = Array.from({ length: maxWatchers }, () => new AbortController());
    const open = cancels.map((cancel, i) => collect(streams[i % streams.length]!, watch, { id: placed.id }, { headers: alice, signal: cancel.signal }));
    await waitFor(() => open.every((s) => s.messages.length === 1), { what: "every place taken" });
    expect(hub.size).toBe(maxWatchers);
    for (const path of streams) {
      const refused = await collect(path, watch, { id: placed.id }, { headers: alice }).ended;
      expect(refused.code, path.name).toBe(Code.ResourceExhausted);
      expect(refused.message, path.name).toMatch(/MAX_WATCHERS/);
    }
    cancels[0]!.abort();
    await waitFor(() => hub.size === maxWatchers - 1, { what: "the cancelled watcher's place free" });
    const again = collect(streams[1]!, watch, { id: placed.id }, { headers: alice });
    await waitFor(() => again.messages.length === 1, { what: "a watcher in the freed place" });
    await unary.call(OrderService.method.cancelOrder, { id: placed.id }, { headers: alice });
    expect((await again.ended).code).toBe("OK");
    for (const s of open.slice(1)) expect((await s.ended).code).toBe("OK");
    expect((await open[0]!.ended).code).toBe(Code.Canceled);
  });

  it("frees the watcher when the client cancels, on every path", async () => {
    const placed = await placeOrder("alice");
    for (const path of streams) {
      const cancel = new AbortController();
      const { messages, ended } = collect(path, watch, { id: placed.id }, { headers: await issuer.header("alice"), signal: cancel.signal });
      await waitFor(() => messages.length === 1, { what: `${path.name}: the first message` });
      expect(hub.size, path.name).toBe(1);
      cancel.abort();
      expect((await ended).code, path.name).toBe(Code.Canceled);
      await waitFor(() => hub.size === 0, { what: `${path.name}: the watcher freed` });
    }
  });
});
