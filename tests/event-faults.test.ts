import { afterAll, beforeAll, describe, expect, it } from "vitest";
import postgres from "postgres";
import { startMesh, type MeshUnderTest } from "./support/mesh-processes.js";
import { startPrivateNatsServer, type PrivateNatsServer } from "./support/nats-server.js";
import { startSmtpSink, type SmtpSink } from "./support/smtp-sink.js";
import { expectEachOrderShippedAndEmailedOnce, placeOrders } from "./support/event-flow-checks.js";
import { validCreateOrder } from "./support/orders-fixture.js";
import { waitFor } from "./support/wait-for.js";

// Broker outages and crashes: a private nats-server we may kill (never the machine's shared one).
let nats: PrivateNatsServer;
let smtp: SmtpSink;
let mesh: MeshUnderTest;

beforeAll(async () => {
  nats = await startPrivateNatsServer();
  smtp = await startSmtpSink();
  mesh = await startMesh({ natsUrl: nats.url, stream: "ORDERS", subjectPrefix: "orders", smtpUrl: smtp.url, env: { orders: { DISPATCH_MAX_BACKOFF_MS: "500", DISPATCH_ACK_WAIT_MS: "8000" } },
  });
}, 90_000);

afterAll(async () => {
  await mesh?.close();
  await smtp?.stop();
  await nats?.stop();
});

async function unpublished(): Promise<number> {
  const sql = postgres(mesh.databases.orders.url, { max: 1, onnotice: () => {} });
  try {
    return (await sql`select count(*)::int as n from outbox where published_at is null`)[0]!.n as number;
  } finally {
    await sql.end();
  }
}

describe("faults", () => {
  it("accepts orders while NATS is down and publishes every one of them once it returns", async () => {
    await nats.kill({ crash: true });
    const ids = await placeOrders(mesh, 5, "nats-down");
    expect(await unpublished()).toBeGreaterThanOrEqual(5);
    await nats.start();
    await expectEachOrderShippedAndEmailedOnce(mesh, smtp, ids);
    expect(await waitFor(async () => (await unpublished()) === 0 || undefined, { what: "outbox drained" })).toBe(true);
  });

  it("publishes what a kill -9 of orders left committed but unpublished, after the restart", async () => {
    await nats.kill({ crash: true });
    const ids = await placeOrders(mesh, 5, "killed-before-publish");
    await mesh.stop("orders", "crash");
    await nats.start();
    await mesh.start("orders");
    await expectEachOrderShippedAndEmailedOnce(mesh, smtp, ids);
  });

  it("ships and emails every committed order exactly once when orders is killed mid-flow", async () => {
    const sql = postgres(mesh.databases.orders.url, { max: 1, onnotice: () => {} });
    const customerId = "killed-mid-flow";
    const calls = Array.from({ length: 40 }, (_, i) =>
      mesh.orders.createOrder(validCreateOrder({ customerId, requestId: `mid-${i}` })).then(
        (r) => r.order!.id,
        () => undefined,
      ),
    );
    // Kill while the relay and dispatch are busy: after some orders committed, before all did.
    await waitFor(async () => ((await sql`select count(*)::int as n from orders where customer_id = ${customerId}`)[0]!.n as number) >= 10, { what: "10 committed orders" });
    await mesh.stop("orders", "crash");
    await Promise.all(calls);
    await mesh.start("orders");
    const committed = (await sql`select id from orders where customer_id = ${customerId}`).map((r) => r.id as string);
    await sql.end();
    expect(committed.length).toBeGreaterThanOrEqual(10);
    // A message dispatch held when it died comes back after its AckWait (8 s here).
    await expectEachOrderShippedAndEmailedOnce(mesh, smtp, committed);
  }, 90_000);
});
