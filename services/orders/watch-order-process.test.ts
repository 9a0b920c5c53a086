import { Code } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { OrderService, OrderStatus } from "../../gen/orders/v1/orders_pb.js";
import { newGrpcJsClient, unaryCall } from "../../tests/support/grpc-js-clients.js";
import { startPrivateNatsServer, type PrivateNatsServer } from "../../tests/support/nats-server.js";
import { validCreateOrder } from "../../tests/support/orders-fixture.js";
import { startServiceProcess, type ServiceProcess } from "../../tests/support/service-process.js";
import { collect, streamPaths, type StreamPath } from "../../tests/support/stream-paths.js";
import { createTestDatabase, type TestDatabase, uniqueName } from "../../tests/support/test-database.js";
import { waitFor } from "../../tests/support/wait-for.js";

// Layer 3: WatchOrder in the compiled orders process: refused until its NATS connection is up, served
// once it is, bounded by MAX_WATCHERS, and open watchers do not hold the shutdown.
let testDb: TestDatabase;
let nats: PrivateNatsServer;
let proc: ServiceProcess | undefined;
let paths: StreamPath[] = [];

beforeAll(async () => {
  [testDb, nats] = await Promise.all([createTestDatabase("orders_watch"), startPrivateNatsServer()]);
});

afterAll(async () => {
  paths.forEach((p) => p.close());
  proc?.kill();
  await Promise.all([testDb?.drop(), nats?.stop()]);
});

const watch = OrderService.method.watchOrder;

describe("orders process WatchOrder", () => {
  it("is UNAVAILABLE until NATS is up, then serves MAX_WATCHERS watchers, and SIGTERM ends them UNAVAILABLE well within the grace", async () => {
    await nats.kill();
    const graceMs = 10_000;
    proc = startServiceProcess("services/orders/main.js", {
      ORDERS_PORT: "0",
      ORDERS_WEB_PORT: "0",
      ORDERS_DATABASE_URL: testDb.url,
      NATS_URL: nats.url,
      EVENTS_STREAM: uniqueName("WATCH").toUpperCase(),
      EVENTS_SUBJECT_PREFIX: uniqueName("watch"),
      // Nothing listens there: dispatch keeps retrying, which this test does not look at.
      SHIPPING_ADDR: "127.0.0.1:9",
      AUTH_DISABLED: "true",
      MAX_WATCHERS: "2",
      SHUTDOWN_GRACE_MS: String(graceMs),
      LOG_LEVEL: "info",
    });
    const listening = await proc.waitForLog((l) => l.msg === "listening", "orders listening");
    paths = streamPaths(Number(listening.grpcPort), Number(listening.webPort));
    const grpcJs = paths[0]!;
    const connect = paths[3]!;
    const client = newGrpcJsClient(`127.0.0.1:${String(listening.grpcPort)}`);
    const { order } = await unaryCall(client, OrderService.method.createOrder, validCreateOrder()).finally(() => client.close());

    const early = await collect(grpcJs, watch, { id: order!.id }).ended;
    expect(early.code).toBe(Code.Unavailable);
    expect(early.message).toMatch(/still connecting to NATS/);

    await nats.start();
    await proc.waitForLog((l) => l.msg === "order watch hub subscribed", "the watch hub subscribed", 30_000);
    const open = [collect(grpcJs, watch, { id: order!.id }), collect(connect, watch, { id: order!.id })];
    await waitFor(() => open.every((s) => s.messages.length >= 1), { what: "both watchers' first message", timeoutMs: 30_000 });
    expect(open[0]!.messages[0]!.order?.id).toBe(order!.id);
    expect([OrderStatus.PENDING, OrderStatus.SHIPMENT_REQUESTED]).toContain(open[1]!.messages[0]!.order?.status);
    const third = await collect(paths[4]!, watch, { id: order!.id }).ended;
    expect(third.code).toBe(Code.ResourceExhausted);

    const started = Date.now();
    const exit = await proc.stop("SIGTERM");
    expect(exit).toEqual({ code: 0, signal: null });
    expect(Date.now() - started).toBeLessThan(graceMs / 3);
    for (const s of open) {
      const end = await s.ended;
      expect(end.code).toBe(Code.Unavailable);
      expect(end.message).toMatch(/shutting down/);
    }
  }, 60_000);
});
