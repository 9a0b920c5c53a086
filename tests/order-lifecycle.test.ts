import { setTimeout as sleep } from "node:timers/promises";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { jetstream } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Order, OrderService, OrderStatus } from "../gen/orders/v1/orders_pb.js";
import { type Shipment, ShipmentStatus } from "../gen/shipping/v1/shipping_pb.js";
import { deadLetterStreamName } from "../services/platform/events/index.js";
import { TEST_NATS_URL } from "./support/jetstream-fixture.js";
import { startMesh, type MeshUnderTest } from "./support/mesh-processes.js";
import { milestoneEmails, type Milestone } from "./support/milestone-emails.js";
import { validCreateOrder } from "./support/orders-fixture.js";
import { startSmtpSink, type SmtpSink } from "./support/smtp-sink.js";
import { startTcpProxy, type TcpProxy } from "./support/tcp-proxy.js";
import { uniqueName } from "./support/test-database.js";
import { waitFor } from "./support/wait-for.js";

// Issue #11 end to end: the three services as compiled processes (TLS, as under `npm start`), the
// simulated carrier or the carrier's UpdateShipmentStatus moving shipments, emails into a real SMTP
// server. Shipping starts with its carrier on (short delays) for the journeys, then restarts with it
// off, so the cancellation cases decide when (and whether) a parcel is picked up.
const stream = uniqueName("ORDERS_LIFE").toUpperCase();
const subjectPrefix = uniqueName("life");
const simulatedCarrier = { CARRIER_PICKUP_AFTER: "300ms", CARRIER_DELIVER_AFTER: "600ms" };
let smtp: SmtpSink;
let mesh: MeshUnderTest;
// Shipping reaches the shared NATS through this proxy, so a test can cut shipping off without touching anyone else.
let shippingNats: TcpProxy;

beforeAll(async () => {
  smtp = await startSmtpSink();
  const nats = new URL(TEST_NATS_URL);
  shippingNats = await startTcpProxy(nats.hostname, Number(nats.port));
  mesh = await startMesh({
    natsUrl: TEST_NATS_URL,
    stream,
    subjectPrefix,
    smtpUrl: smtp.url,
    ordersWeb: true,
    env: {
      shipping: { ...simulatedCarrier, NATS_URL: `nats://127.0.0.1:${shippingNats.port}` },
      // A shipping outage should end within a test's patience: the saga's retries stay under a second apart.
      orders: { DISPATCH_MAX_BACKOFF_MS: "500", SHIPMENT_CANCEL_MAX_BACKOFF_MS: "500" },
    },
  });
}, 90_000);

afterAll(async () => {
  await mesh?.close();
  await smtp?.stop();
  await shippingNats?.close();
  const nc = await connect({ servers: TEST_NATS_URL });
  const jsm = await jetstream(nc).jetstreamManager();
  const names = [stream, mesh?.shippingEvents.stream].filter((n) => n !== undefined).flatMap((n) => [n, deadLetterStreamName(n)]);
  for (const name of names) await jsm.streams.delete(name).catch(() => false);
  await nc.close();
}, 60_000);

/** Places n orders for a customer and returns them as CreateOrder answered. */
async function place(customerId: string, n: number): Promise<Order[]> {
  const created = await Promise.all(
    Array.from({ length: n }, (_, i) => mesh.orders.createOrder(validCreateOrder({ customerId, customerEmail: `${customerId}@example.com`, requestId: `${customerId}-${i}` }))),
  );
  return created.map((r) => r.order!);
}

/** The order as GetOrder answers it. */
async function getOrder(id: string): Promise<Order> {
  return (await mesh.orders.getOrder({ id })).order!;
}

/** Waits until GetOrder shows the order in one of these statuses (and `also` holds) and returns it. */
function orderReaches(id: string, statuses: OrderStatus[], also: (o: Order) => boolean = () => true, timeoutMs = 20_000): Promise<Order> {
  return waitFor(
    async () => {
      const order = await getOrder(id);
      return statuses.includes(order.status) && also(order) ? order : undefined;
    },
    { timeoutMs, what: `order ${id} ${statuses.map((s) => OrderStatus[s]).join(" or ")}` },
  );
}

/** The shipment of an order as shipping has it (read as orders reads it), undefined when it has none. */
async function shipmentOf(orderId: string): Promise<Shipment | undefined> {
  try {
    return (await mesh.shipping.getShipmentByOrder({ orderId })).shipment;
  } catch (err) {
    if (ConnectError.from(err).code === Code.NotFound) return undefined;
    throw err;
  }
}

/** Waits until the order has received these emails (at least), then returns every milestone email it got. */
async function emailsOnceArrived(orderId: string, expected: Milestone[], timeoutMs = 20_000): Promise<Milestone[]> {
  await waitFor(() => expected.every((m) => milestoneEmails(smtp, orderId).includes(m)), { timeoutMs, what: `emails ${expected.join(", ")} of order ${orderId}` });
  return milestoneEmails(smtp, orderId);
}

/** The code a call failed with ("OK" when it did not fail). */
async function codeOf(call: Promise<unknown>): Promise<Code | "OK"> {
  try {
    await call;
    return "OK";
  } catch (err) {
    return ConnectError.from(err).code;
  }
}

describe("an order's life with the simulated carrier", () => {
  it("goes created -> shipped -> delivered, read from orders alone, with one email per milestone", async () => {
    const customerId = uniqueName("journey");
    const placed = await place(customerId, 3);
    for (const o of placed) {
      const order = await orderReaches(o.id, [OrderStatus.DELIVERED]);
      expect(order.shipment?.status).toBe(ShipmentStatus.DELIVERED);
      expect(order.shipment?.carrier).toBe("DHL");
      expect(order.shipment?.trackingNumber).toMatch(/^OM\d+$/);
      expect(order.shipmentId).toBe(order.shipment?.id);
      // Every change bumped the version: created, claimed, shipment recorded, shipped, in transit, delivered.
      expect(order.version).toBeGreaterThanOrEqual(6n);
      // Orders' projection is shipping's shipment as it last changed.
      const shipment = await shipmentOf(o.id);
      expect(shipment).toMatchObject({ id: order.shipmentId, status: ShipmentStatus.DELIVERED, trackingNumber: order.shipment?.trackingNumber, carrier: "DHL" });

      const emails = await emailsOnceArrived(o.id, ["confirmed", "shipped", "delivered"]);
      expect(emails.sort()).toEqual(["confirmed", "delivered", "shipped"]);
      const shippedEmail = smtp.emails.find((e) => e.subject === `Order #${o.id} shipped`)!;
      expect(shippedEmail.envelope.to).toEqual([`${customerId}@example.com`]);
      expect(shippedEmail.body).toContain("Carrier: DHL");
      expect(shippedEmail.body).toContain(`Tracking number: ${order.shipment!.trackingNumber}`);
    }
    const { orders } = await mesh.orders.listOrders({ customerId });
    expect(orders.map((o) => o.id).sort()).toEqual(placed.map((o) => o.id).sort());
    for (const listed of orders) {
      const read = await getOrder(listed.id);
      expect(listed.status).toBe(OrderStatus.DELIVERED);
      expect(listed.shipment).toEqual(read.shipment);
    }
  }, 30_000);

  it("streams the order placed -> shipped -> delivered to WatchOrder over gRPC and over Connect, ending OK", async () => {
    const connectOrders = createClient(OrderService, createConnectTransport({ baseUrl: mesh.ordersWebUrl!, httpVersion: "2", nodeOptions: mesh.clientTls }));
    const [order] = await place(uniqueName("watcher"), 1);
    const watch = async (client: typeof connectOrders) => {
      const seen: Order[] = [];
      // Returning from the loop means the stream ended OK; an error status throws out of it.
      for await (const res of client.watchOrder({ id: order!.id }, { signal: AbortSignal.timeout(20_000) })) seen.push(res.order!);
      return seen;
    };
    const streams = await Promise.all([watch(mesh.orders), watch(connectOrders)]);
    for (const seen of streams) {
      expect(seen[0]!.id).toBe(order!.id);
      const versions = seen.map((o) => o.version);
      expect(versions).toEqual([...versions].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)));
      expect(new Set(versions).size).toBe(versions.length);
      const statuses = seen.map((o) => o.status);
      expect(statuses).toContain(OrderStatus.SHIPPED);
      expect(statuses.at(-1)).toBe(OrderStatus.DELIVERED);
      expect(statuses.indexOf(OrderStatus.SHIPPED)).toBeLessThan(statuses.indexOf(OrderStatus.DELIVERED));
      expect(seen.find((o) => o.status === OrderStatus.SHIPPED)?.shipment?.trackingNumber).toMatch(/^OM\d+$/);
    }
  }, 30_000);
});

describe("cancelling and crashing, with pickups decided by the test", () => {
  beforeAll(async () => {
    await mesh.stop("shipping", "graceful");
    await mesh.start("shipping", { CARRIER_PICKUP_AFTER: "off", CARRIER_DELIVER_AFTER: "off" });
  }, 60_000);

  it("cancels right after CreateOrder: CANCELLED whichever path, its shipment (if any) CANCELLED, one cancellation email", async () => {
    const placed = await place(uniqueName("quick-cancel"), 6);
    const answers = await Promise.all(placed.map((o) => mesh.orders.cancelOrder({ id: o.id, reason: "changed my mind" })));
    for (const { order } of answers) expect([OrderStatus.CANCELLED, OrderStatus.CANCELLING]).toContain(order!.status);
    for (const o of placed) {
      const order = await orderReaches(o.id, [OrderStatus.CANCELLED]);
      expect(order.cancelReason).toBe("changed my mind");
      const emails = await emailsOnceArrived(o.id, ["confirmed", "cancelled"]);
      expect(emails.sort()).toEqual(["cancelled", "confirmed"]);
      // Cancelled before dispatch claimed it: no shipment ever; claimed first: shipping cancelled it (or stored a tombstone).
      const shipment = await shipmentOf(o.id);
      if (shipment) expect(shipment.status).toBe(ShipmentStatus.CANCELLED);
      if (order.shipment) expect(order.shipment.status).toBe(ShipmentStatus.CANCELLED);
    }
  }, 30_000);

  it("cancels while shipping is down: CANCELLING at once, CANCELLED with its shipment once shipping is back", async () => {
    const customerId = uniqueName("outage-cancel");
    const [withShipment] = await place(customerId, 1);
    const requested = await orderReaches(withShipment!.id, [OrderStatus.SHIPMENT_REQUESTED], (o) => o.shipment?.status === ShipmentStatus.PENDING);
    const earlierLogs = new Set(mesh.processes.orders.logs);
    await mesh.stop("shipping", "crash");

    const started = Date.now();
    const { order } = await mesh.orders.cancelOrder({ id: withShipment!.id, reason: "too slow" });
    expect(Date.now() - started).toBeLessThan(1000);
    expect(order?.status).toBe(OrderStatus.CANCELLING);
    expect(order?.version).toBe(requested.version + 1n);
    // Placed during the outage: dispatch has claimed it but shipping never answered, so no shipment exists.
    const [withoutShipment] = await place(`${customerId}-later`, 1);
    await orderReaches(withoutShipment!.id, [OrderStatus.SHIPMENT_REQUESTED]);
    expect((await mesh.orders.cancelOrder({ id: withoutShipment!.id, reason: "never mind" })).order?.status).toBe(OrderStatus.CANCELLING);
    // The saga has tried and failed often enough to open the breaker: the orders wait, CANCELLING.
    await mesh.processes.orders.waitForLog((l) => l.msg === "circuit opened" && !earlierLogs.has(l), "the breaker to open on CancelShipment", 20_000);
    for (const o of [withShipment!, withoutShipment!]) expect((await getOrder(o.id)).status).toBe(OrderStatus.CANCELLING);

    await mesh.start("shipping");
    const cancelled = await orderReaches(withShipment!.id, [OrderStatus.CANCELLED], () => true, 30_000);
    expect(cancelled.cancelReason).toBe("too slow");
    expect(cancelled.shipment).toMatchObject({ id: requested.shipmentId, status: ShipmentStatus.CANCELLED });
    expect((await shipmentOf(withShipment!.id))?.status).toBe(ShipmentStatus.CANCELLED);
    expect(await emailsOnceArrived(withShipment!.id, ["confirmed", "cancelled"])).toEqual(["confirmed", "cancelled"]);
    expect(smtp.emails.find((e) => e.subject === `Order #${withShipment!.id} cancelled`)?.body).toContain("too slow");

    // Usually CancelShipment by order id comes first and stores a cancelled tombstone (no carrier), so dispatch
    // can never create a shipment later; a CreateShipment retry still in flight when shipping came back may
    // create one first, which the saga then cancels. Either way: one shipment, CANCELLED, the order's.
    const lateCancelled = await orderReaches(withoutShipment!.id, [OrderStatus.CANCELLED], () => true, 30_000);
    const lateShipment = await shipmentOf(withoutShipment!.id);
    expect(lateShipment?.status).toBe(ShipmentStatus.CANCELLED);
    expect(lateCancelled.shipmentId).toBe(lateShipment?.id);
    expect(await emailsOnceArrived(withoutShipment!.id, ["confirmed", "cancelled"])).toEqual(["confirmed", "cancelled"]);
  }, 45_000);

  it("ships an order whose pickup shipping committed but had not published when it was killed -9: once, after the restart", async () => {
    const [placed] = await place(uniqueName("crash-pickup"), 1);
    const requested = await orderReaches(placed!.id, [OrderStatus.SHIPMENT_REQUESTED], (o) => o.shipment?.status === ShipmentStatus.PENDING);
    shippingNats.cut();
    await mesh.processes.shipping.waitForLog((l) => l.msg === "nats disconnected", "shipping to lose NATS");
    // Committed with its outbox row; the relay cannot publish it.
    const { shipment } = await mesh.carrier.updateShipmentStatus({ id: requested.shipmentId, status: ShipmentStatus.PICKED_UP });
    expect(shipment?.status).toBe(ShipmentStatus.PICKED_UP);
    await mesh.stop("shipping", "crash");
    expect((await getOrder(placed!.id)).status).toBe(OrderStatus.SHIPMENT_REQUESTED);

    shippingNats.restore();
    await mesh.start("shipping");
    const order = await orderReaches(placed!.id, [OrderStatus.SHIPPED]);
    // One version for the pickup: a second copy of the event, had one been published, is not newer and changes nothing.
    expect(order.version).toBe(requested.version + 1n);
    expect(order.shipment?.status).toBe(ShipmentStatus.PICKED_UP);
    expect(await emailsOnceArrived(placed!.id, ["confirmed", "shipped"])).toEqual(["confirmed", "shipped"]);
  }, 45_000);

  it("races CancelOrder against the carrier's pickup for many orders: each ends one way only", async () => {
    const n = 24;
    const placed = await place(uniqueName("race"), n);
    const requested = await Promise.all(placed.map((o) => orderReaches(o.id, [OrderStatus.SHIPMENT_REQUESTED], (r) => r.shipment?.status === ShipmentStatus.PENDING)));
    // Most pickups leave 0 to 1.5 s after the cancel, so they land before, during and after the saga's
    // CancelShipment (which reaches shipping through the outbox, NATS and the shipment-cancel consumer:
    // tens to hundreds of ms, more on a busy machine). One order in eight is picked up before it is
    // cancelled and one in eight only once shipping cancelled it, so both outcomes occur however fast
    // the machine is; the rest decide the race for real.
    const pickUp = (order: Order) => codeOf(mesh.carrier.updateShipmentStatus({ id: order.shipmentId, status: ShipmentStatus.PICKED_UP }));
    const raced = await Promise.all(
      requested.map(async (order, i) => {
        const slot = i % 8;
        if (slot === 0) {
          const pickup = await pickUp(order);
          return { order, pickup, cancel: await codeOf(mesh.orders.cancelOrder({ id: order.id })) };
        }
        if (slot === 7) {
          const cancel = await codeOf(mesh.orders.cancelOrder({ id: order.id }));
          await waitFor(async () => (await shipmentOf(order.id))?.status === ShipmentStatus.CANCELLED, { what: `shipment of ${order.id} cancelled`, timeoutMs: 40_000 });
          return { order, cancel, pickup: await pickUp(order) };
        }
        const [cancel, pickup] = await Promise.all([codeOf(mesh.orders.cancelOrder({ id: order.id })), sleep(slot * 250).then(() => pickUp(order))]);
        return { order, cancel, pickup };
      }),
    );
    const outcomes = { cancelled: 0, shipped: 0 };
    for (const { order, cancel, pickup } of raced) {
      const final = await orderReaches(order.id, [OrderStatus.CANCELLED, OrderStatus.SHIPPED]);
      const shipment = await shipmentOf(order.id);
      if (final.status === OrderStatus.CANCELLED) {
        outcomes.cancelled++;
        expect(cancel).toBe("OK");
        expect(pickup).toBe(Code.FailedPrecondition);
        expect(shipment?.status).toBe(ShipmentStatus.CANCELLED);
        expect(final.shipment?.status).toBe(ShipmentStatus.CANCELLED);
        expect(await emailsOnceArrived(order.id, ["confirmed", "cancelled"])).toEqual(["confirmed", "cancelled"]);
      } else {
        outcomes.shipped++;
        expect(pickup).toBe("OK");
        // Accepted as CANCELLING before the pickup arrived, or refused once orders had seen it.
        expect(["OK", Code.FailedPrecondition]).toContain(cancel);
        expect(shipment?.status).toBe(ShipmentStatus.PICKED_UP);
        expect(final.shipment?.status).toBe(ShipmentStatus.PICKED_UP);
        expect(final.cancelReason).toBe("");
        expect(await emailsOnceArrived(order.id, ["confirmed", "shipped"])).toEqual(["confirmed", "shipped"]);
        const again = await codeOf(mesh.orders.cancelOrder({ id: order.id }));
        expect(again).toBe(Code.FailedPrecondition);
      }
    }
    expect(outcomes.cancelled + outcomes.shipped).toBe(n);
    // The ordered slots above decide their orders; a shipping that let both happen fails them too.
    expect(outcomes.cancelled).toBeGreaterThanOrEqual(n / 8);
    expect(outcomes.shipped).toBeGreaterThanOrEqual(n / 8);
  }, 90_000);
});
