import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { fromBinary } from "@bufbuild/protobuf";
import type { JsMsg } from "@nats-io/jetstream";
import { createContextValues, createHandlerContext } from "@connectrpc/connect";
import { callerKey, unauthenticatedAdmin } from "../platform/identity/index.js";
import { OrderCreatedSchema } from "../../gen/orders/v1/events_pb.js";
import { createJetStreamFixture, type JetStreamFixture } from "../../tests/support/jetstream-fixture.js";
import { createOrdersDatabase, orderContext, validCreateOrder, type OrdersDatabase } from "../../tests/support/orders-fixture.js";
import { waitFor } from "../../tests/support/wait-for.js";
import { OrderService } from "../../gen/orders/v1/orders_pb.js";
import { createOrderService } from "./order-service.js";
import { startOutboxRelay, type OutboxRelay } from "./outbox-relay.js";

let db: OrdersDatabase;
let jet: JetStreamFixture;
const relays: OutboxRelay[] = [];

beforeAll(async () => {
  db = await createOrdersDatabase();
  jet = await createJetStreamFixture();
});
afterEach(async () => {
  await Promise.all(relays.splice(0).map((r) => r.stop()));
});
afterAll(async () => {
  await jet?.close();
  await db?.close();
});

const svc = () => createOrderService({ store: db.store, logger: jet.logger });

async function createOrders(n: number, customerId: string): Promise<string[]> {
  const orders = svc();
  const ids: string[] = [];
  for (let i = 0; i < n; i++) {
    const res = await orders.createOrder(validCreateOrder({ customerId }), orderContext("createOrder"));
    ids.push(res.order!.id!);
  }
  return ids;
}

async function relay(overrides: Partial<Parameters<typeof startOutboxRelay>[0]> = {}): Promise<OutboxRelay> {
  const r = await startOutboxRelay({ sql: db.database.sql, js: jet.js, logger: jet.logger, subjectPrefix: jet.subjectPrefix, ...overrides });
  relays.push(r);
  return r;
}

/** Every orders.created message in the stream, decoded. */
async function publishedOrderIds(): Promise<string[]> {
  const { state } = await jet.jsm.streams.info(jet.stream);
  const ids: string[] = [];
  for (let seq = state.first_seq; seq <= state.last_seq && state.messages > 0; seq++) {
    const m = await jet.jsm.streams.getMessage(jet.stream, { seq }).catch(() => null);
    if (m?.subject === `${jet.subjectPrefix}.created`) ids.push(fromBinary(OrderCreatedSchema, m.data).order!.id);
  }
  return ids;
}

/**
 * The order id of every publish to the subject as the server receives it, before JetStream drops
 * duplicates: a core NATS subscription sees each publish request, a re-publish included.
 */
async function observeRawPublishes(subject: string): Promise<{ orderIds: string[]; close(): void }> {
  const orderIds: string[] = [];
  const sub = jet.nc.subscribe(subject, { callback: (_err, msg) => void orderIds.push(fromBinary(OrderCreatedSchema, msg.data).order!.id) });
  // The subscription must be in place on the server before the first publish.
  await jet.nc.flush();
  return { orderIds, close: () => sub.unsubscribe() };
}

describe("outbox relay", () => {
  it("publishes each committed event once with CloudEvents headers, even with three relays competing", async () => {
    const ids = await createOrders(30, "relay-replicas");
    const raw = await observeRawPublishes(`${jet.subjectPrefix}.created`);
    const competing = await Promise.all([relay({ batchSize: 4 }), relay({ batchSize: 4 }), relay({ batchSize: 4 })]);
    await Promise.all(competing.map((r) => r.drainNow()));
    await waitFor(async () => (await relays[0]!.backlog()) === 0, { what: "outbox drained" });
    // The relays publish on this connection too: once this round trip returns, every publish they made has arrived.
    await jet.nc.flush();
    raw.close();
    // JetStream's duplicate window would hide a second publish of a row from the stream, so the raw
    // publishes are counted: one per row means SKIP LOCKED gave each row to exactly one relay.
    expect(raw.orderIds.filter((id) => ids.includes(id)).sort()).toEqual([...ids].sort());
    const published = await publishedOrderIds();
    expect(published.filter((id) => ids.includes(id)).sort()).toEqual([...ids].sort());
    const { state } = await jet.jsm.streams.info(jet.stream);
    const first = await jet.jsm.streams.getMessage(jet.stream, { seq: state.first_seq });
    expect(first!.header.get("ce-specversion")).toBe("1.0");
    expect(first!.header.get("ce-type")).toBe("orders.v1.OrderCreated");
    expect(first!.header.get("content-type")).toBe("application/protobuf");
    expect(first!.header.get("Nats-Msg-Id")).toBe(first!.header.get("ce-id"));
  });

  it("wakes on the outbox NOTIFY, not on its poll", async () => {
    // A poll interval of an hour: only the trigger's NOTIFY can get this row published within the wait.
    const r = await relay({ pollIntervalMs: 3_600_000 });
    await r.drainNow();
    const consumer = await jet.js.consumers.get(jet.stream);
    const received: JsMsg[] = [];
    const messages = await consumer.consume();
    void (async () => {
      for await (const m of messages) received.push(m);
    })();
    const [id] = await createOrders(1, "relay-notify");
    await waitFor(() => received.some((m) => fromBinary(OrderCreatedSchema, m.data).order?.id === id), { what: "event published after NOTIFY", timeoutMs: 5000 });
    await messages.close();
  });

  it("counts the backlog while it cannot publish and records the failure on the rows", async () => {
    // A prefix no stream captures: JetStream answers "no responders", as when the stream is missing.
    const r = await relay({ subjectPrefix: "nowhere.relay", publishTimeoutMs: 200, pollIntervalMs: 3_600_000 });
    await r.stop();
    const ids = await createOrders(2, "relay-backlog");
    const stuck = await relay({ subjectPrefix: "nowhere.relay", publishTimeoutMs: 200, pollIntervalMs: 3_600_000 });
    await stuck.drainNow();
    expect(await stuck.backlog()).toBeGreaterThanOrEqual(2);
    const rows = await db.database.sql`select attempts, last_error from outbox where aggregate_id = any(${ids}::uuid[])`;
    expect(rows.every((row) => (row.attempts as number) >= 1 && typeof row.last_error === "string")).toBe(true);
    await stuck.stop();
    const healthy = await relay();
    await healthy.drainNow();
    expect(await healthy.backlog()).toBe(0);
  });

  it("carries the caller's W3C traceparent from CreateOrder onto the published event, and drops a malformed one", async () => {
    const traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    const create = (header: string) =>
      svc().createOrder(
        validCreateOrder({ customerId: "relay-trace" }),
        createHandlerContext({ service: OrderService, method: OrderService.method.createOrder, protocolName: "test", requestMethod: "POST", url: "/", requestHeader: { traceparent: header }, contextValues: createContextValues().set(callerKey, unauthenticatedAdmin) }),
      );
    const traced = (await create(traceparent)).order!.id!;
    const malformed = (await create("00-not-a-trace")).order!.id!;
    await (await relay()).drainNow();
    const headersOf = async (orderId: string) => {
      const [row] = await db.database.sql`select id from outbox where aggregate_id = ${orderId}`;
      const { state } = await jet.jsm.streams.info(jet.stream);
      for (let seq = state.last_seq; seq >= state.first_seq; seq--) {
        const m = await jet.jsm.streams.getMessage(jet.stream, { seq }).catch(() => null);
        if (m && m.header.get("ce-id") === row!.id) return m.header;
      }
      throw new Error(`event of ${orderId} not published`);
    };
    expect((await headersOf(traced)).get("traceparent")).toBe(traceparent);
    expect((await headersOf(malformed)).get("traceparent")).toBe("");
  });

  it("prunes published rows older than the retention", async () => {
    const [id] = await createOrders(1, "relay-prune");
    const r = await relay({ retentionMs: 1 });
    await r.drainNow();
    await waitFor(async () => (await db.database.sql`select 1 from outbox where aggregate_id = ${id!}`).length === 0, { what: "row pruned" });
    const [order] = await db.database.sql`select 1 from orders where id = ${id!}`;
    expect(order).toBeDefined();
  });
});
