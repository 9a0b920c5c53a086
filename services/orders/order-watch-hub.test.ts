import { create } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Order, OrderSchema, OrderStatus } from "../../gen/orders/v1/orders_pb.js";
import { connectNats } from "../platform/events/index.js";
import { createJetStreamFixture, type JetStreamFixture } from "../../tests/support/jetstream-fixture.js";
import { startPrivateNatsServer } from "../../tests/support/nats-server.js";
import { publishOrderChange } from "../../tests/support/order-changes.js";
import { createOrdersDatabase, orderContext, validCreateOrder, type OrdersDatabase } from "../../tests/support/orders-fixture.js";
import { testLogger } from "../../tests/support/shipping-harness.js";
import { waitFor } from "../../tests/support/wait-for.js";
import { orderToProto } from "./order-mapping.js";
import { createOrderService } from "./order-service.js";
import { isNewer, OrderWatchHub } from "./order-watch-hub.js";

// The hub on real NATS (a unique subject prefix on the shared server; a private server where it restarts)
// and a real orders database for the re-read after a reconnect.
let events: JetStreamFixture;
let db: OrdersDatabase;

beforeAll(async () => {
  events = await createJetStreamFixture();
  db = await createOrdersDatabase();
});

afterAll(async () => {
  await events?.close();
  await db?.close();
});

const readOrder = async (id: string) => {
  const order = await db.store.get(id);
  return order && orderToProto(order);
};

function hubOn(prefix: string, options: { maxWatchers?: number; bufferSize?: number } = {}) {
  return new OrderWatchHub({ subjectPrefix: prefix, maxWatchers: options.maxWatchers ?? 10, readOrder, logger: testLogger, bufferSize: options.bufferSize });
}

/** An order at version n, changed n ms after a fixed time. */
function orderAt(id: string, n: number, status = OrderStatus.SHIPMENT_REQUESTED): Order {
  return create(OrderSchema, { id, status, version: BigInt(n), updateTime: timestampFromMs(1_700_000_000_000 + n) });
}

const never = new AbortController().signal;

/** The states the watcher has ready now, without waiting for more. */
async function ready(watcher: ReturnType<OrderWatchHub["watch"]>): Promise<Order[]> {
  const got: Order[] = [];
  for (;;) {
    const stop = new AbortController();
    const next = watcher.next(stop.signal);
    stop.abort(new Error("nothing ready"));
    try {
      got.push(await next);
    } catch {
      return got;
    }
  }
}

describe("isNewer", () => {
  it("orders by version, then by update_time (version 0 until every change bumps it)", () => {
    expect(isNewer(orderAt("a", 2), orderAt("a", 1))).toBe(true);
    expect(isNewer(orderAt("a", 1), orderAt("a", 1))).toBe(false);
    expect(isNewer(orderAt("a", 1), orderAt("a", 2))).toBe(false);
    const early = create(OrderSchema, { updateTime: timestampFromMs(1000) });
    const late = create(OrderSchema, { updateTime: timestampFromMs(1001) });
    expect(isNewer(late, early)).toBe(true);
    expect(isNewer(early, late)).toBe(false);
  });
});

describe("order watch hub", () => {
  it("is UNAVAILABLE until attached and after close; RESOURCE_EXHAUSTED past maxWatchers until one closes", async () => {
    const hub = hubOn(`${events.subjectPrefix}-limits`, { maxWatchers: 2 });
    expect(() => hub.watch("o-1")).toThrow(expect.objectContaining({ code: Code.Unavailable, rawMessage: expect.stringMatching(/still connecting to NATS/) }));
    await hub.attach(events.nc);
    const first = hub.watch("o-1");
    hub.watch("o-1");
    expect(hub.size).toBe(2);
    expect(() => hub.watch("o-2")).toThrow(expect.objectContaining({ code: Code.ResourceExhausted, rawMessage: expect.stringMatching(/2 watchers \(MAX_WATCHERS\)/) }));
    first.close();
    first.close();
    expect(hub.size).toBe(1);
    const third = hub.watch("o-2");
    const waiting = third.next(never);
    hub.close();
    await expect(waiting).rejects.toMatchObject({ code: Code.Unavailable });
    expect(() => hub.watch("o-3")).toThrow(expect.objectContaining({ code: Code.Unavailable, rawMessage: expect.stringMatching(/shutting down/) }));
  });

  it("hands each order's events to that order's watchers only, newer states only, in order", async () => {
    const prefix = events.subjectPrefix;
    const hub = hubOn(prefix);
    await hub.attach(events.nc);
    try {
      const a1 = hub.watch("order-a");
      const a2 = hub.watch("order-a");
      const b = hub.watch("order-b");
      for (const order of [orderAt("order-a", 1), orderAt("order-b", 1), orderAt("order-a", 3), orderAt("order-a", 2), orderAt("order-a", 3), orderAt("order-a", 4)]) {
        await publishOrderChange(events.js, prefix, "orderUpdated", order);
      }
      for (const watcher of [a1, a2]) {
        const versions: bigint[] = [];
        while (versions.at(-1) !== 4n) versions.push((await watcher.next(never)).version);
        // 2 came after 3 and the second 3 repeats it: neither goes back in time.
        expect(versions).toEqual([1n, 3n, 4n]);
      }
      expect((await b.next(never)).version).toBe(1n);
      expect(await ready(b)).toEqual([]);
    } finally {
      hub.close();
    }
  });

  it("skips subjects the catalogue does not know and payloads that do not decode", async () => {
    const prefix = events.subjectPrefix;
    const hub = hubOn(prefix);
    await hub.attach(events.nc);
    try {
      const watcher = hub.watch("order-c");
      events.nc.publish(`${prefix}.no_such_event`, new Uint8Array([1, 2, 3]));
      events.nc.publish(`${prefix}.updated`, new Uint8Array([0xff, 0xff, 0xff]));
      await publishOrderChange(events.js, prefix, "orderCancelled", orderAt("order-c", 7, OrderStatus.CANCELLED));
      expect(await watcher.next(never)).toMatchObject({ version: 7n, status: OrderStatus.CANCELLED });
    } finally {
      hub.close();
    }
  });

  it("coalesces a watcher that cannot keep up: it keeps the newest states, bounded, never an old one last", async () => {
    const hub = hubOn(events.subjectPrefix, { bufferSize: 4 });
    await hub.attach(events.nc);
    try {
      const watcher = hub.watch("order-d");
      for (let n = 1; n <= 50; n++) watcher.offer(orderAt("order-d", n));
      const got = (await ready(watcher)).map((o) => o.version);
      expect(got.length).toBeLessThanOrEqual(4);
      expect(got.at(-1)).toBe(50n);
      expect([...got].sort((x, y) => Number(x - y))).toEqual(got);
    } finally {
      hub.close();
    }
  });

  it("after NATS comes back, re-reads every watched order once, so a change missed meanwhile still arrives", async () => {
    const nats = await startPrivateNatsServer();
    const nc = await connectNats(nats.url, testLogger, "watch-hub-test", { reconnectTimeWaitMs: 100 });
    const hub = hubOn("watch");
    const service = createOrderService({ store: db.store });
    try {
      await hub.attach(nc);
      const id = (await service.createOrder(validCreateOrder(), orderContext("createOrder"))).order?.id ?? "";
      const watcher = hub.watch(id);
      watcher.offer((await readOrder(id))!);
      expect((await watcher.next(never)).status).toBe(OrderStatus.PENDING);

      await nats.kill();
      // Committed while this process had no NATS: whatever published its event, this subscription missed it.
      await db.database.sql`update orders set status = 'cancelled', cancel_reason = 'while NATS was down', updated_at = now() where id = ${id}`;
      await nats.start();
      const next = await watcher.next(AbortSignal.timeout(15_000));
      expect(next).toMatchObject({ status: OrderStatus.CANCELLED, cancelReason: "while NATS was down" });
      // Once: the re-read is not repeated while the connection stays up.
      await nc.flush();
      expect(await ready(watcher)).toEqual([]);
    } finally {
      hub.close();
      await nc.close();
      await nats.stop();
    }
  }, 30_000);

  it("ends a watcher's wait with the signal's reason", async () => {
    const hub = hubOn(events.subjectPrefix);
    await hub.attach(events.nc);
    try {
      const watcher = hub.watch("order-e");
      const cancel = new AbortController();
      const waiting = watcher.next(cancel.signal);
      cancel.abort(new ConnectError("cancelled by the client", Code.Canceled));
      await expect(waiting).rejects.toMatchObject({ code: Code.Canceled });
      watcher.close();
      await waitFor(() => hub.size === 0, { what: "the watcher gone" });
    } finally {
      hub.close();
    }
  });
});
