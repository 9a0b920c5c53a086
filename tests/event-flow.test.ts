import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { jetstream } from "@nats-io/jetstream";
import { connect, headers } from "@nats-io/transport-node";
import { OrderStatus } from "../gen/orders/v1/orders_pb.js";
import { startMesh, type MeshUnderTest } from "./support/mesh-processes.js";
import { startSmtpSink, type SmtpSink } from "./support/smtp-sink.js";
import { uniqueName } from "./support/test-database.js";
import { expectEachOrderShippedAndEmailedOnce, placeOrders } from "./support/event-flow-checks.js";
import { waitFor } from "./support/wait-for.js";
import { TEST_NATS_URL } from "./support/jetstream-fixture.js";

// The whole event flow with every service as a real process, on the machine's shared NATS and PostgreSQL
// (unique stream, subjects and databases per run).
const stream = uniqueName("ORDERS_E2E").toUpperCase();
const subjectPrefix = uniqueName("e2e");
let smtp: SmtpSink;
let mesh: MeshUnderTest;

beforeAll(async () => {
  smtp = await startSmtpSink();
  mesh = await startMesh({
    natsUrl: TEST_NATS_URL,
    stream,
    subjectPrefix,
    smtpUrl: smtp.url,
    env: { orders: { DISPATCH_MAX_BACKOFF_MS: "500" } },
  });
}, 90_000);

afterAll(async () => {
  await mesh?.close();
  await smtp?.stop();
  const nc = await connect({ servers: TEST_NATS_URL });
  const jsm = await jetstream(nc).jetstreamManager();
  const shippingStream = mesh?.shippingEvents.stream ?? `${stream}_SHIPPING`;
  for (const name of [stream, `${stream}_DEADLETTER`, shippingStream, `${shippingStream}_DEADLETTER`]) await jsm.streams.delete(name).catch(() => false);
  await nc.close();
});

describe("event flow", () => {
  it("turns N orders into N shipments and N confirmation emails, each exactly once, with the total in the email", async () => {
    const ids = await placeOrders(mesh, 20, "happy");
    await expectEachOrderShippedAndEmailedOnce(mesh, smtp, ids);
    const email = smtp.emails.find((e) => e.subject === `Order #${ids[0]} confirmed`)!;
    // 2 x 12.50 + 4.99 = 29.99 EUR, formatted by the notifier.
    expect(email.body).toMatch(/29[.,]99/);
    const { order } = await mesh.orders.getOrder({ id: ids[0]! });
    expect(order?.status).toBe(OrderStatus.SHIPMENT_REQUESTED);
    expect(order?.shipment?.trackingNumber).toMatch(/^OM\d+$/);
  });

  it("keeps accepting orders while shipping is down and ships them once it is back, after the breaker opened and closed", async () => {
    await mesh.stop("shipping", "crash");
    const ids = await placeOrders(mesh, 5, "shipping-down");
    await mesh.processes.orders.waitForLog((l) => l.msg === "circuit opened", "breaker to open", 30_000);
    // GetOrder never waits on shipping for a claimed order without a shipment, and answers for one with a shipment.
    const started = Date.now();
    const { order } = await mesh.orders.getOrder({ id: ids[0]! });
    expect(order?.id).toBe(ids[0]);
    expect(Date.now() - started).toBeLessThan(1000);
    await mesh.start("shipping");
    await expectEachOrderShippedAndEmailedOnce(mesh, smtp, ids);
    await mesh.processes.orders.waitForLog((l) => l.msg === "circuit closed", "breaker to close", 30_000);
  });

  it("dead-letters a poison message and keeps consuming", async () => {
    const nc = await connect({ servers: TEST_NATS_URL });
    const js = jetstream(nc);
    const h = headers();
    h.set("ce-type", "orders.v1.OrderCreated");
    await js.publish(`${subjectPrefix}.created`, new Uint8Array([0xff, 0xff, 0xff]), { msgID: uniqueName("poison"), headers: h });
    const ids = await placeOrders(mesh, 3, "after-poison");
    await expectEachOrderShippedAndEmailedOnce(mesh, smtp, ids);
    const jsm = await js.jetstreamManager();
    const deadLetters = await waitFor(
      async () => {
        const info = await jsm.streams.info(`${stream}_DEADLETTER`);
        return info.state.messages >= 2 ? info : undefined;
      },
      { what: "poison message dead-lettered by both consumers" },
    );
    expect(deadLetters.state.messages).toBeGreaterThanOrEqual(2);
    const subjects = new Set<string>();
    for (const consumer of ["shipping-dispatch", "notifier"]) {
      const msg = await jsm.streams.getMessage(`${stream}_DEADLETTER`, { last_by_subj: `deadletter.${subjectPrefix}.${consumer}` });
      expect(msg?.header.get("x-original-subject")).toBe(`${subjectPrefix}.created`);
      subjects.add(msg!.subject);
    }
    expect(subjects.size).toBe(2);
    await nc.close();
  });
});
