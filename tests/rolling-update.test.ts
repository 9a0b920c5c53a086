import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startMesh, type MeshService, type MeshUnderTest } from "./support/mesh-processes.js";
import { startPrivateNatsServer, type PrivateNatsServer } from "./support/nats-server.js";
import { startSmtpSink, type SmtpSink } from "./support/smtp-sink.js";
import { expectEachOrderShippedAndEmailedOnce } from "./support/event-flow-checks.js";
import { validCreateOrder } from "./support/orders-fixture.js";
import { waitFor } from "./support/wait-for.js";

// The local equivalent of `kubectl rollout restart` for every Deployment: two replicas of each service
// registered with the NATS service API (a private nats-server: discovery is by service name), replaced
// one at a time (start the new one, wait until it serves and is registered, SIGTERM the old one) while
// a client keeps placing orders through discovery.
let nats: PrivateNatsServer;
let smtp: SmtpSink;
let mesh: MeshUnderTest;

beforeAll(async () => {
  nats = await startPrivateNatsServer();
  smtp = await startSmtpSink();
  mesh = await startMesh({ natsUrl: nats.url, stream: "ORDERS", subjectPrefix: "orders", smtpUrl: smtp.url, replicas: { orders: 2, shipping: 2, notifier: 2 } });
}, 120_000);

afterAll(async () => {
  await mesh?.close();
  await smtp?.stop();
  await nats?.stop();
});

/** CreateOrder calls each replica of orders answered, by its rpc log lines. */
const createOrderCalls = (mesh: MeshUnderTest) =>
  mesh.replicas.orders.map((p) => p.logs.filter((l) => l.msg === "rpc" && l.rpc === "/orders.v1.OrderService/CreateOrder" && l.code === "OK").length);

describe("a rolling update of every service", () => {
  it("replaces every replica one at a time under load with 0 failed calls and every order shipped and emailed once", async () => {
    const placed: string[] = [];
    const failures: unknown[] = [];
    let stop = false;
    let next = 0;
    let phase = "start";
    // Four callers, each with one call at a time: a bounded load that never stops during the rollout.
    const load = Promise.all(
      Array.from({ length: 4 }, async () => {
        while (!stop) {
          const requestId = `rolling-${next++}`;
          await mesh.orders.createOrder(validCreateOrder({ customerId: "rolling", requestId }), { timeoutMs: 10_000 }).then(
            (res) => placed.push(res.order!.id),
            (err: unknown) => failures.push(`${phase}: ${String(err)}`),
          );
        }
      }),
    );
    const progress = (calls: number) => waitFor(() => placed.length >= calls || failures.length > 0, { timeoutMs: 30_000, what: `${calls} orders placed` });
    await progress(20);
    // Calls spread over both orders replicas before the rollout.
    expect(createOrderCalls(mesh).every((n) => n > 0)).toBe(true);

    for (const service of ["shipping", "orders", "notifier"] as MeshService[]) {
      for (const old of [...mesh.replicas[service]]) {
        phase = `adding ${service}`;
        await mesh.addReplica(service);
        phase = `stopping ${service}`;
        await mesh.stopReplica(service, old, "graceful");
        expect(await old.exited).toEqual({ code: 0, signal: null });
        phase = `after ${service}`;
        await progress(placed.length + 10);
      }
    }
    stop = true;
    await load;

    expect(failures).toEqual([]);
    // The replicas that replaced them took calls too.
    expect(createOrderCalls(mesh).every((n) => n > 0)).toBe(true);
    expect(placed.length).toBeGreaterThanOrEqual(80);
    await expectEachOrderShippedAndEmailedOnce(mesh, smtp, placed, 90_000);
  }, 240_000);
});
