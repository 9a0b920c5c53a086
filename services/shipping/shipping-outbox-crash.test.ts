import { createClient } from "@connectrpc/connect";
import { fromBinary } from "@bufbuild/protobuf";
import postgres from "postgres";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { ShippingService } from "../../gen/shipping/v1/shipping_pb.js";
import { catalogue, connectNats, deadLetterStreamName, subjectOf, type NatsConnection } from "../platform/events/index.js";
import { createGrpcJsTransport, type ClosableTransport } from "../platform/rpc/index.js";
import { TEST_NATS_URL } from "../../tests/support/jetstream-fixture.js";
import { startServiceProcess, type ServiceProcess } from "../../tests/support/service-process.js";
import { shipmentRequest, testLogger } from "../../tests/support/shipping-harness.js";
import { startTcpProxy, type TcpProxy } from "../../tests/support/tcp-proxy.js";
import { createTestDatabase, uniqueName, type TestDatabase } from "../../tests/support/test-database.js";
import { waitFor } from "../../tests/support/wait-for.js";
import { jetstreamManager, type JetStreamManager } from "@nats-io/jetstream";

// Layer 3: the compiled shipping process, killed -9 on either side of its outbox relay's publish. It
// reaches the shared NATS through a proxy of this test's own, so "NATS is down" never touches others.
let testDb: TestDatabase;
let sql: postgres.Sql;
let proxy: TcpProxy;
let nc: NatsConnection;
let jsm: JetStreamManager;
let proc: ServiceProcess | undefined;
let transport: ClosableTransport | undefined;
const stream = uniqueName("SHIPPING_CRASH").toUpperCase();
const subjectPrefix = uniqueName("shipcrash");
const createdSubject = subjectOf(catalogue.shipmentCreated, subjectPrefix);

beforeAll(async () => {
  testDb = await createTestDatabase("shipping_crash");
  sql = postgres(testDb.url, { max: 3, onnotice: () => {} });
  const target = new URL(TEST_NATS_URL);
  proxy = await startTcpProxy(target.hostname, Number(target.port));
  nc = await connectNats(TEST_NATS_URL, testLogger, "shipping-crash-test");
  jsm = await jetstreamManager(nc);
});
afterEach(async () => {
  proc?.kill();
  await proc?.exited;
  proc = undefined;
  transport?.close();
  transport = undefined;
});
afterAll(async () => {
  for (const name of [stream, deadLetterStreamName(stream)]) await jsm?.streams.delete(name).catch(() => false);
  await nc?.close();
  await proxy?.close();
  await sql?.end();
  await testDb?.drop();
});

/** Starts shipping (plaintext, no identity checks) against the test database and NATS through the proxy. */
async function startShipping(): Promise<ReturnType<typeof createClient<typeof ShippingService>>> {
  proc = startServiceProcess("services/shipping/main.js", {
    SHIPPING_PORT: "0",
    SHIPPING_WEB_PORT: "off",
    SHIPPING_DATABASE_URL: testDb.url,
    AUTH_DISABLED: "true",
    NATS_URL: `nats://127.0.0.1:${proxy.port}`,
    SHIPPING_EVENTS_STREAM: stream,
    SHIPPING_EVENTS_SUBJECT_PREFIX: subjectPrefix,
    LOG_LEVEL: "info",
  });
  const listening = await proc.waitForLog((l) => l.msg === "listening", "shipping listening");
  // Streams declared (by shipping itself) and the relay listening for the outbox.
  await proc.waitForLog((l) => l.msg === "outbox relay started", "shipping's outbox relay");
  transport?.close();
  transport = createGrpcJsTransport({ address: `127.0.0.1:${listening.grpcPort as number}` });
  return createClient(ShippingService, transport);
}

/** How many messages the stream holds on ShipmentCreated's subject for this order. */
async function createdEventsOf(orderId: string): Promise<number> {
  let n = 0;
  const { state } = await jsm.streams.info(stream, { subjects_filter: createdSubject });
  if ((state.subjects?.[createdSubject] ?? 0) === 0) return 0;
  for (let seq = state.first_seq; seq <= state.last_seq; seq++) {
    const m = await jsm.streams.getMessage(stream, { seq }).catch(() => null);
    if (m?.subject === createdSubject && fromBinary(catalogue.shipmentCreated.schema, m.data).shipment?.orderId === orderId) n++;
  }
  return n;
}

async function outboxRowOf(orderId: string) {
  const [row] = await sql`select id, published_at, attempts from outbox where aggregate_id = ${orderId}`;
  return row!;
}

/**
 * Kills shipping -9, runs `meanwhile` (releasing what held it up), then waits until the killed
 * process's database sessions have nothing open any more (its transaction rolled back).
 */
async function crash(meanwhile: () => Promise<unknown> = async () => {}): Promise<void> {
  proc!.kill();
  await proc!.exited;
  proc = undefined;
  await meanwhile();
  await waitFor(async () => (await sql`select 1 from pg_stat_activity where datname = current_database() and state <> 'idle' and pid <> pg_backend_pid()`).length === 0, {
    what: "the killed shipping's open transactions to end",
  });
}

describe("shipping's outbox across kill -9", () => {
  it("a change committed while NATS is unreachable is published exactly once after a crash and restart", async () => {
    const shipping = await startShipping();
    proxy.cut();
    await proc!.waitForLog((l) => l.msg === "nats disconnected", "shipping to notice NATS is gone");
    const req = shipmentRequest();
    // Committed with its event: CreateShipment answers without NATS.
    const { shipment } = await shipping.createShipment(req);
    expect((await outboxRowOf(req.orderId)).published_at).toBeNull();
    await crash();
    expect((await outboxRowOf(req.orderId)).published_at).toBeNull();
    expect(await createdEventsOf(req.orderId)).toBe(0);

    proxy.restore();
    await startShipping();
    await waitFor(async () => (await outboxRowOf(req.orderId)).published_at !== null, { what: "the event published after restart" });
    expect(await createdEventsOf(req.orderId)).toBe(1);
    const published = await jsm.streams.getMessage(stream, { last_by_subj: createdSubject });
    expect(fromBinary(catalogue.shipmentCreated.schema, published!.data).shipment).toMatchObject({ id: shipment!.id, version: 1n });
  });

  it("a crash after publishing but before marking the row re-publishes it, and JetStream drops the copy", async () => {
    const shipping = await startShipping();
    proxy.cut();
    await proc!.waitForLog((l) => l.msg === "nats disconnected", "shipping to notice NATS is gone");
    const req = shipmentRequest();
    await shipping.createShipment(req);
    const { id: eventId } = await outboxRowOf(req.orderId);
    // SHARE lets the relay claim its rows (FOR UPDATE) and publish, but holds the UPDATE that marks them.
    const lock = await sql.reserve();
    try {
      await lock`begin`;
      await lock`lock table outbox in share mode`;
      proxy.restore();
      await waitFor(async () => (await createdEventsOf(req.orderId)) === 1, { what: "the event published", timeoutMs: 20_000 });
      await waitFor(async () => (await sql`select 1 from pg_locks where relation = 'outbox'::regclass and not granted`).length > 0, {
        what: "the relay's mark to wait on the lock",
      });
      await crash(() => lock`rollback`);
    } finally {
      lock.release();
    }
    expect((await outboxRowOf(req.orderId)).published_at).toBeNull();

    // Every publish request the server receives on the subject, before JetStream's duplicate check.
    const raw: string[] = [];
    const sub = nc.subscribe(createdSubject, { callback: (_err, msg) => void raw.push(msg.headers?.get("Nats-Msg-Id") ?? "") });
    await nc.flush();
    try {
      await startShipping();
      await waitFor(async () => (await outboxRowOf(req.orderId)).published_at !== null, { what: "the row marked after restart" });
      await nc.flush();
      expect(raw).toContain(eventId);
    } finally {
      sub.unsubscribe();
    }
    expect(await createdEventsOf(req.orderId)).toBe(1);
  });
});
