import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { randomUUID } from "node:crypto";
import { create, toBinary } from "@bufbuild/protobuf";
import { Code } from "@connectrpc/connect";
import { CancelOrderRequestSchema, OrderService, OrderStatus } from "../../gen/orders/v1/orders_pb.js";
import { OrderCreatedSchema } from "../../gen/orders/v1/events_pb.js";
import { publishEvent } from "../platform/events/index.js";
import type { DurableConsumer } from "../platform/events/index.js";
import type { Database } from "../platform/db/index.js";
import { createJetStreamFixture, type JetStreamFixture } from "../../tests/support/jetstream-fixture.js";
import { startScriptedShipping, type ScriptedShipping } from "../../tests/support/scripted-shipping.js";
import { createOrdersDatabase, orderContext, validCreateOrder, type OrdersDatabase } from "../../tests/support/orders-fixture.js";
import { startShippingServers, testLogger, type ShippingServers } from "../../tests/support/shipping-harness.js";
import { createTestDatabase, type TestDatabase } from "../../tests/support/test-database.js";
import { waitFor } from "../../tests/support/wait-for.js";
import { openShippingDatabase } from "../shipping/db/open-database.js";
import type * as shippingSchema from "../shipping/db/schema.js";
import { createOrderService } from "./order-service.js";
import { createShippingClient, type ShippingClient } from "./shipping-client.js";
import { startShippingDispatcher } from "./shipping-dispatcher.js";

// shipping-dispatch in-process against real NATS, the orders database and a real ShippingService.
let ordersDb: OrdersDatabase;
let shippingDb: TestDatabase;
let shippingDatabase: Database<typeof shippingSchema>;
let shippingServers: ShippingServers;
let jet: JetStreamFixture;
let shipping: ShippingClient;
let dispatcher: DurableConsumer;

beforeAll(async () => {
  ordersDb = await createOrdersDatabase();
  shippingDb = await createTestDatabase("dispatch_shipping");
  shippingDatabase = await openShippingDatabase(shippingDb.url, 5);
  shippingServers = await startShippingServers(shippingDatabase);
  jet = await createJetStreamFixture();
  shipping = createShippingClient({ addr: shippingServers.grpcAddress, logger: testLogger });
  dispatcher = await startDispatcher(jet, shipping, 3);
});

/** shipping-dispatch on the fixture's stream, over the orders database, with test-short backoff, in batches of up to 8. */
function startDispatcher(fixture: JetStreamFixture, client: ShippingClient, maxDeliver: number): Promise<DurableConsumer> {
  return startShippingDispatcher({
    js: fixture.js,
    jsm: fixture.jsm,
    stream: fixture.stream,
    subjectPrefix: fixture.subjectPrefix,
    store: ordersDb.store,
    shipping: client,
    logger: testLogger,
    maxDeliver,
    maxBackoffMs: 50,
    ackWaitMs: 5000,
    batchSize: 8,
    batchesInFlight: 2,
  });
}

afterAll(async () => {
  await dispatcher?.stop();
  await jet?.close();
  await shippingServers?.host.stop();
  await shippingDatabase?.close();
  await shippingDb?.drop();
  await ordersDb?.close();
});

const orders = () => createOrderService({ store: ordersDb.store });

/**
 * Creates an order; publish() sends its committed OrderCreated event as the relay would (message id
 * overridable) to the stream of fixture.
 */
async function orderWithEvent(fixture = jet): Promise<{ id: string; publish: (msgId?: string) => Promise<unknown> }> {
  const { order } = await orders().createOrder(validCreateOrder(), orderContext("createOrder"));
  const [row] = await ordersDb.database.sql`select id, payload from outbox where aggregate_id = ${order!.id!}`;
  const publish = (id = row!.id as string) =>
    publishEvent(fixture.js, { subject: `${fixture.subjectPrefix}.created`, eventId: id, type: OrderCreatedSchema.typeName, source: "/test", time: new Date(), payload: row!.payload as Uint8Array });
  return { id: order!.id!, publish };
}

/** Waits until shipping-dispatch has acked (or terminated) everything published so far. */
async function dispatchIdle(): Promise<void> {
  await waitFor(async () => {
    const info = await jet.jsm.consumers.info(jet.stream, "shipping-dispatch");
    return info.num_pending === 0 && info.num_ack_pending === 0;
  }, { what: "shipping-dispatch idle" });
}

/** Waits until the order is marked DISPATCH_FAILED; returns it then. */
function dispatchFailed(orderId: string, timeoutMs?: number) {
  return waitFor(async () => {
    const o = await ordersDb.store.get(orderId);
    return o?.status === "dispatch_failed" ? o : undefined;
  }, { what: "order marked dispatch_failed", timeoutMs });
}

/** Waits until dispatch has recorded a shipment on the order; returns the order then. */
function shipmentRecorded(orderId: string) {
  return waitFor(async () => {
    const o = await ordersDb.store.get(orderId);
    return o?.shipmentId ? o : undefined;
  }, { what: "shipment recorded" });
}

async function shipmentsOf(orderId: string): Promise<number> {
  return (await shippingDatabase.sql`select count(*)::int as n from shipments where order_id = ${orderId}`)[0]!.n as number;
}

describe("shipping dispatch", () => {
  it("creates one shipment, records it on the order, and a redelivered event changes nothing", async () => {
    const { id, publish } = await orderWithEvent();
    await publish();
    const order = await shipmentRecorded(id);
    expect(order.status).toBe("shipment_requested");
    // Shipping learns the owner, so it can answer that customer's reads of the shipment.
    const [stored] = await shippingDatabase.sql`select customer_id from shipments where order_id = ${id}`;
    expect(stored?.customer_id).toBe(order.customerId);
    expect(order.customerId).not.toBe("");
    // A second copy under another message id gets past JetStream's de-duplication, like a redelivery.
    await publish(randomUUID());
    await dispatchIdle();
    expect(await shipmentsOf(id)).toBe(1);
    expect((await ordersDb.store.get(id))?.shipmentId).toBe(order.shipmentId);
  });

  it("does not ship a cancelled order", async () => {
    const { id, publish } = await orderWithEvent();
    await orders().cancelOrder(create(CancelOrderRequestSchema, { id, reason: "test" }), orderContext("cancelOrder"));
    await publish();
    await dispatchIdle();
    expect(await shipmentsOf(id)).toBe(0);
    expect((await ordersDb.store.get(id))?.status).toBe("cancelled");
  });

  it("does not ship an order cancelled after a crashed dispatch's claim (CANCELLING: the cancel saga owns it)", async () => {
    const { id, publish } = await orderWithEvent();
    await ordersDb.store.claimForDispatch(id);
    const { order } = await orders().cancelOrder(create(CancelOrderRequestSchema, { id, reason: "test" }), orderContext("cancelOrder"));
    expect(order?.status).toBe(OrderStatus.CANCELLING);
    await publish();
    await dispatchIdle();
    expect(await shipmentsOf(id)).toBe(0);
    expect((await ordersDb.store.get(id))?.status).toBe("cancelling");
  });

  it("shows the shipment CreateShipment answered on the order at once, without moving its status", async () => {
    const { id, publish } = await orderWithEvent();
    await publish();
    const order = await shipmentRecorded(id);
    expect(order).toMatchObject({ status: "shipment_requested", shipmentStatus: "pending", version: 3n });
    expect(order.shipmentTrackingNumber).not.toBe("");
  });

  it("ships an order a crashed dispatch had claimed without a shipment; claiming it again moves nothing", async () => {
    const { id, publish } = await orderWithEvent();
    const claimed = await ordersDb.store.claimForDispatch(id);
    expect(claimed?.status).toBe("shipment_requested");
    expect(claimed?.items).toHaveLength(validCreateOrder().items.length);
    const again = await ordersDb.store.claimForDispatch(id);
    expect(again?.updatedAt.getTime()).toBe(claimed!.updatedAt.getTime());
    await publish();
    const order = await shipmentRecorded(id);
    expect(order.status).toBe("shipment_requested");
    expect(await shipmentsOf(id)).toBe(1);
    expect(await ordersDb.store.claimForDispatch(id)).toBeUndefined();
  });

  it("dead-letters an event whose order is not in this orders database", async () => {
    const orderId = randomUUID();
    const payload = toBinary(OrderCreatedSchema, create(OrderCreatedSchema, { eventId: randomUUID(), order: { id: orderId } }));
    await publishEvent(jet.js, { subject: `${jet.subjectPrefix}.created`, eventId: randomUUID(), type: OrderCreatedSchema.typeName, source: "/test", time: new Date(), payload });
    const dead = await waitFor(async () => (await jet.deadLetters()).find((m) => m.header.get("x-deadletter-reason").includes(orderId)), { what: "dead letter" });
    expect(dead.header.get("x-deadletter-reason")).toContain("does not exist");
    expect(await shipmentsOf(orderId)).toBe(0);
  });

  it("dead-letters an undecodable event and keeps going", async () => {
    await jet.js.publish(`${jet.subjectPrefix}.created`, new Uint8Array([0x0a, 0xff]), { msgID: randomUUID() });
    const later = await orderWithEvent();
    await later.publish();
    await waitFor(async () => (await ordersDb.store.get(later.id))?.shipmentId, { what: "the next event processed" });
    const dead = await waitFor(async () => (await jet.deadLetters()).find((m) => m.header.get("x-deadletter-reason").includes("undecodable")), { what: "dead letter" });
    expect(dead.subject).toBe(`deadletter.${jet.subjectPrefix}.shipping-dispatch`);
  });

  it("ships the orders of the events it holds together: one shipment each, recorded on each order", async () => {
    // Published while no dispatcher runs, so the restarted one pulls them in one response: one batch.
    await dispatcher.stop();
    const placed = await Promise.all(Array.from({ length: 6 }, () => orderWithEvent()));
    for (const { publish } of placed) await publish();
    dispatcher = await startDispatcher(jet, shipping, 3);
    for (const { id } of placed) {
      const order = await shipmentRecorded(id);
      expect(order).toMatchObject({ status: "shipment_requested", shipmentStatus: "pending" });
      const [row] = await shippingDatabase.sql`select id from shipments where order_id = ${id}`;
      expect(order.shipmentId).toBe(row?.id);
    }
    expect(await Promise.all(placed.map(({ id }) => shipmentsOf(id)))).toEqual(placed.map(() => 1));
  });

  it("marks the order DISPATCH_FAILED when shipping stays unreachable past max_deliver", async () => {
    const { id, publish } = await orderWithEvent();
    await shippingServers.host.stop();
    await publish();
    const order = await dispatchFailed(id, 20_000);
    expect(order.shipmentId).toBeNull();
    const dead = (await jet.deadLetters()).filter((m) => m.header.get("x-delivery-count") === "3");
    expect(dead.length).toBeGreaterThanOrEqual(1);
  });
});

// A second dispatcher on its own stream, in front of a ShippingService that answers what each test scripts.
describe("shipping dispatch by CreateShipment's answer", () => {
  let scriptedJet: JetStreamFixture;
  let scripted: ScriptedShipping;
  let scriptedClient: ShippingClient;
  let scriptedDispatcher: DurableConsumer;
  // Several deliveries, so a terminal answer that is retried shows up as more than one call.
  const maxDeliver = 4;

  beforeAll(async () => {
    scriptedJet = await createJetStreamFixture();
    scripted = await startScriptedShipping();
    scriptedClient = createShippingClient({ addr: scripted.grpcAddress, logger: testLogger });
    scriptedDispatcher = await startDispatcher(scriptedJet, scriptedClient, maxDeliver);
  });

  afterAll(async () => {
    await scriptedDispatcher?.stop();
    await scriptedJet?.close();
    scriptedClient?.close();
    await scripted?.host.stop();
  });

  const named = (codes: Code[]) => codes.map((code) => [Code[code], code] as const);

  it.each(named([Code.NotFound, Code.Unimplemented, Code.PermissionDenied, Code.Unauthenticated, Code.AlreadyExists, Code.OutOfRange, Code.InvalidArgument]))(
    "dead-letters an order on the first %s answer and marks it DISPATCH_FAILED",
    async (_, code) => {
      const { id, publish } = await orderWithEvent(scriptedJet);
      scripted.script(id, code);
      await publish();
      const order = await dispatchFailed(id);
      expect(order.shipmentId).toBeNull();
      expect(scripted.calls(id)).toBe(1);
      const dead = (await scriptedJet.deadLetters()).filter((m) => m.header.get("x-deadletter-reason").includes(id));
      expect(dead.map((m) => m.header.get("x-delivery-count"))).toEqual(["1"]);
    },
  );

  it("retries UNAVAILABLE on a later delivery once the dispatch policy's attempts are used up", async () => {
    const { id, publish } = await orderWithEvent(scriptedJet);
    // Three attempts are the dispatch policy's whole budget for one delivery; the fourth call is a redelivery.
    scripted.script(id, Code.Unavailable, Code.Unavailable, Code.Unavailable, "ok");
    await publish();
    const order = await shipmentRecorded(id);
    expect(order.status).toBe("shipment_requested");
    expect(scripted.calls(id)).toBe(4);
  });

  /** Stops the scripted dispatcher, runs `publish`, and starts it again: what it published arrives in one pull. */
  async function heldTogether(publish: () => Promise<void>): Promise<void> {
    await scriptedDispatcher.stop();
    await publish();
    scriptedDispatcher = await startDispatcher(scriptedJet, scriptedClient, maxDeliver);
  }

  it("asks for a batch's shipments in one CreateShipments call; each order gets its own answer's verdict", async () => {
    const ok = await Promise.all(Array.from({ length: 3 }, () => orderWithEvent(scriptedJet)));
    const refused = await orderWithEvent(scriptedJet);
    const flaky = await orderWithEvent(scriptedJet);
    const cancelled = await orderWithEvent(scriptedJet);
    scripted.script(refused.id, Code.InvalidArgument);
    scripted.script(flaky.id, Code.Unavailable, "ok");
    await orders().cancelOrder(create(CancelOrderRequestSchema, { id: cancelled.id, reason: "test" }), orderContext("cancelOrder"));
    const before = scripted.batches().length;
    await heldTogether(async () => {
      for (const o of [...ok, refused, flaky, cancelled]) await o.publish();
    });
    for (const { id } of [...ok, flaky]) await shipmentRecorded(id);
    expect((await dispatchFailed(refused.id)).shipmentId).toBeNull();
    // The cancelled order never reached shipping; the rest went in one call.
    const first = scripted.batches()[before]!;
    expect(new Set(first)).toEqual(new Set([...ok, refused, flaky].map((o) => o.id)));
    expect(scripted.calls(cancelled.id)).toBe(0);
    // Only the order whose answer was UNAVAILABLE came back (a later delivery), alone.
    expect(scripted.calls(flaky.id)).toBe(2);
    expect(ok.map(({ id }) => scripted.calls(id))).toEqual([1, 1, 1]);
    expect(scripted.calls(refused.id)).toBe(1);
    expect((await ordersDb.store.get(cancelled.id))?.status).toBe("cancelled");
  });

  it("retries every order of a batch when CreateShipments fails as a whole with a retryable code", async () => {
    const placed = await Promise.all(Array.from({ length: 3 }, () => orderWithEvent(scriptedJet)));
    // RESOURCE_EXHAUSTED is not retried inside one delivery by the dispatch policy, only by redelivery.
    scripted.failBatches(Code.ResourceExhausted);
    const before = scripted.batches().length;
    await heldTogether(async () => {
      for (const o of placed) await o.publish();
    });
    for (const { id } of placed) await shipmentRecorded(id);
    const [failed, ...later] = scripted.batches().slice(before);
    const ids = new Set(placed.map((o) => o.id));
    expect(new Set(failed)).toEqual(ids);
    expect(new Set(later.flat())).toEqual(ids);
    // The failed call answered no request: each order's one answered request is its redelivery's.
    expect(placed.map(({ id }) => scripted.calls(id))).toEqual([1, 1, 1]);
  });

  it("dead-letters every order of a batch when CreateShipments refuses the call as a whole", async () => {
    const placed = await Promise.all(Array.from({ length: 2 }, () => orderWithEvent(scriptedJet)));
    scripted.failBatches(Code.PermissionDenied);
    const before = scripted.batches().length;
    await heldTogether(async () => {
      for (const o of placed) await o.publish();
    });
    for (const { id } of placed) expect((await dispatchFailed(id)).shipmentId).toBeNull();
    // One call, never repeated: the refusal holds for every order it carried.
    expect(scripted.batches().slice(before).map((b) => new Set(b))).toEqual([new Set(placed.map((o) => o.id))]);
  });

  it.each(named([Code.ResourceExhausted, Code.Aborted, Code.Unknown, Code.Internal, Code.Canceled]))(
    "retries a %s answer on a later delivery",
    async (_, code) => {
      const { id, publish } = await orderWithEvent(scriptedJet);
      scripted.script(id, code, "ok");
      await publish();
      await shipmentRecorded(id);
      expect(scripted.calls(id)).toBe(2);
    },
  );
});
