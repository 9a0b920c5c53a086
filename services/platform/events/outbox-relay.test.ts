import { randomUUID } from "node:crypto";
import { RetentionPolicy, StorageType } from "@nats-io/jetstream";
import { pino } from "pino";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { insertOutboxEvents } from "../db/index.js";
import { outbox, outboxChannel } from "../../orders/db/schema.js";
import { createJetStreamFixture, TEST_NATS_URL, type JetStreamFixture } from "../../../tests/support/jetstream-fixture.js";
import { createOrdersDatabase, type OrdersDatabase } from "../../../tests/support/orders-fixture.js";
import { startTcpProxy } from "../../../tests/support/tcp-proxy.js";
import { uniqueName } from "../../../tests/support/test-database.js";
import { waitFor } from "../../../tests/support/wait-for.js";
import { catalogue, encodeEvent, type EventDefinition } from "./catalogue.js";
import { connectNats, isNatsConnected } from "./nats-connection.js";
import { startOutboxRelay, type OutboxRelay, type OutboxRelayOptions } from "./outbox-relay.js";

// The relay over a real outbox table (orders' migrations define it) and the shared NATS, each test on
// its own subject prefix; events are written straight into the outbox as a service's store would.
let db: OrdersDatabase;
let jet: JetStreamFixture;
const relays: OutboxRelay[] = [];
const cleanups: Array<() => Promise<unknown>> = [];

beforeAll(async () => {
  db = await createOrdersDatabase();
  jet = await createJetStreamFixture();
});
beforeEach(async () => {
  await db.database.sql`truncate outbox`;
});
afterEach(async () => {
  await Promise.all(relays.splice(0).map((r) => r.stop()));
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});
afterAll(async () => {
  await jet?.close();
  await db?.close();
});

async function relay(overrides: Partial<OutboxRelayOptions> = {}): Promise<OutboxRelay> {
  const r = await startOutboxRelay({
    sql: db.database.sql,
    nc: jet.nc,
    logger: jet.logger,
    family: "orders",
    subjectPrefix: jet.subjectPrefix,
    channel: outboxChannel,
    ...overrides,
  });
  relays.push(r);
  return r;
}

type OrderEvent = EventDefinition & { schema: typeof catalogue.orderCreated.schema };
const kinds = { created: catalogue.orderCreated, updated: catalogue.orderUpdated, shipped: catalogue.orderShipped, delivered: catalogue.orderDelivered };

/** Commits one event of the order in its own transaction, as a store does with a change; returns its id. */
async function commitEvent(orderId: string, kind: keyof typeof kinds, traceparent?: string): Promise<string> {
  const eventId = randomUUID();
  const event = encodeEvent(kinds[kind] as OrderEvent, { eventId, order: { id: orderId } });
  await db.database.db.transaction((tx) => insertOutboxEvents(tx, outbox, [{ event, createdAt: new Date(), traceparent }]));
  return eventId;
}

/** Every message of the stream under a prefix, in stream order: subject and ce-id. */
async function streamMessages(stream = jet.stream): Promise<Array<{ subject: string; id: string; headers: Map<string, string> }>> {
  const { state } = await jet.jsm.streams.info(stream);
  const out: Array<{ subject: string; id: string; headers: Map<string, string> }> = [];
  for (let seq = state.first_seq; seq <= state.last_seq && state.messages > 0; seq++) {
    const m = await jet.jsm.streams.getMessage(stream, { seq }).catch(() => null);
    if (!m) continue;
    const headers = new Map<string, string>();
    for (const [k, v] of m.header) headers.set(k, v.join(","));
    out.push({ subject: m.subject, id: m.header.get("ce-id"), headers });
  }
  return out;
}

/** The ids of the events of each order in the order the stream holds them. */
async function streamOrderOf(ids: Map<string, string>, stream?: string): Promise<Map<string, string[]>> {
  const byOrder = new Map<string, string[]>();
  for (const m of await streamMessages(stream)) {
    const orderId = ids.get(m.id);
    if (orderId) byOrder.set(orderId, [...(byOrder.get(orderId) ?? []), m.id]);
  }
  return byOrder;
}

async function rowOf(eventId: string) {
  const [row] = await db.database.sql`select attempts, last_error, next_attempt_at, failed_at, published_at from outbox where id = ${eventId}`;
  return row!;
}

/** A stream of its own whose subjects leave `${prefix}.shipped` out: publishing a shipped event fails with no responders. */
async function streamWithoutShipped(): Promise<{ stream: string; subjectPrefix: string; coverEverything(): Promise<void> }> {
  const stream = uniqueName("RELAY").toUpperCase();
  const subjectPrefix = uniqueName("r");
  await jet.jsm.streams.add({
    name: stream,
    subjects: [`${subjectPrefix}.created`, `${subjectPrefix}.updated`, `${subjectPrefix}.delivered`],
    storage: StorageType.Memory,
    retention: RetentionPolicy.Limits,
  });
  cleanups.push(() => jet.jsm.streams.delete(stream).catch(() => false));
  return { stream, subjectPrefix, coverEverything: async () => void (await jet.jsm.streams.update(stream, { subjects: [`${subjectPrefix}.>`] })) };
}

describe("outbox relay", () => {
  it("publishes each committed event once with CloudEvents headers, even with three relays competing", async () => {
    const ids = new Map<string, string>();
    for (let i = 0; i < 30; i++) {
      const orderId = randomUUID();
      ids.set(await commitEvent(orderId, "created", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"), orderId);
    }
    // A core subscription sees every publish request, a re-publish included, before JetStream drops duplicates.
    const raw: string[] = [];
    const sub = jet.nc.subscribe(`${jet.subjectPrefix}.created`, { callback: (_err, msg) => void raw.push(msg.headers!.get("ce-id")) });
    await jet.nc.flush();
    const competing = await Promise.all([relay({ batchSize: 4 }), relay({ batchSize: 4 }), relay({ batchSize: 4 })]);
    await Promise.all(competing.map((r) => r.drainNow()));
    await waitFor(async () => (await competing[0]!.backlog()) === 0, { what: "outbox drained" });
    // The relays publish on this connection too: once this round trip returns, every publish they made has arrived.
    await jet.nc.flush();
    sub.unsubscribe();
    // One raw publish per row means SKIP LOCKED gave each row to exactly one relay.
    expect(raw.filter((id) => ids.has(id)).sort()).toEqual([...ids.keys()].sort());
    const stored = (await streamMessages()).filter((m) => ids.has(m.id));
    expect(stored.map((m) => m.id).sort()).toEqual([...ids.keys()].sort());
    expect(Object.fromEntries(stored[0]!.headers)).toMatchObject({
      "ce-specversion": "1.0",
      "ce-type": "orders.v1.OrderCreated",
      "ce-source": "/ordermesh/orders",
      "content-type": "application/protobuf",
      "Nats-Msg-Id": stored[0]!.id,
      traceparent: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
    });
  });

  it("wakes on the outbox NOTIFY, not on its poll", async () => {
    // A poll interval of an hour: only the trigger's NOTIFY can get this row published within the wait.
    const r = await relay({ pollIntervalMs: 3_600_000 });
    await r.drainNow();
    const id = await commitEvent(randomUUID(), "created");
    await waitFor(async () => (await streamMessages()).some((m) => m.id === id), { what: "event published after NOTIFY", timeoutMs: 5000 });
  });

  it("drains a large backlog of a table without statistics in a few passes' time, not one index scan per row", async () => {
    // Never analysed, as a fresh database's outbox is (and as one analysed while nearly empty looks):
    // the claim used to become an anti join scanning the whole pending index per candidate, ~1 s per
    // 200-row pass at this backlog.
    await db.database.sql`alter table outbox set (autovacuum_enabled = false)`;
    cleanups.push(() => db.database.sql`alter table outbox reset (autovacuum_enabled)`);
    const rows = 10_000;
    await db.database.sql`
      insert into outbox (id, aggregate_id, event_name, event_type, payload, created_at)
      select gen_random_uuid(), gen_random_uuid(), 'created', 'orders.v1.OrderCreated', '\\x'::bytea, now() from generate_series(1, ${rows})`;
    const started = Date.now();
    const r = await relay({ pollIntervalMs: 3_600_000 });
    await r.drainNow();
    expect(await r.backlog()).toBe(0);
    expect(Date.now() - started).toBeLessThan(10_000);
  });

  it("keeps every order's events in commit order with two relays, one of them stalled after claiming", async () => {
    const orders = Array.from({ length: 3 }, () => randomUUID());
    const ids = new Map<string, string>();
    const committed = new Map<string, string[]>();
    for (let k = 0; k < 4; k++) {
      for (const orderId of orders) {
        const id = await commitEvent(orderId, k === 0 ? "created" : "updated");
        ids.set(id, orderId);
        committed.set(orderId, [...(committed.get(orderId) ?? []), id]);
      }
    }
    // Replica A reaches NATS through a link that stalls once A has claimed the three orders' first events.
    const target = new URL(TEST_NATS_URL);
    const proxy = await startTcpProxy(target.hostname, Number(target.port));
    cleanups.push(() => proxy.close());
    const ncA = await connectNats(`nats://127.0.0.1:${proxy.port}`, jet.logger, "relay-replica-a");
    const ncB = await connectNats(TEST_NATS_URL, jet.logger, "relay-replica-b");
    cleanups.push(() => Promise.all([ncA.close(), ncB.close()]));
    proxy.pause();
    const a = await relay({ nc: ncA, batchSize: 3, publishTimeoutMs: 10_000, pollIntervalMs: 3_600_000 });
    // Watched without locking anything (a FOR UPDATE probe would make A's claim skip the rows): A's
    // transaction sits idle, holding its claim, while its publishes wait in the stalled link.
    const claimedByA = async () =>
      (await db.database.sql`select 1 from pg_stat_activity where datname = current_database() and state = 'idle in transaction' and query like '%for update of o skip locked%'`).length === 1;
    await waitFor(claimedByA, { what: "replica A to claim the first events" });
    // Replica B runs whole passes meanwhile: every order's head is A's, so B must publish none of the rest.
    const b = await relay({ nc: ncB, batchSize: 3, pollIntervalMs: 3_600_000 });
    await b.drainNow();
    expect([...(await streamOrderOf(ids)).keys()]).toEqual([]);
    proxy.resume();
    await waitFor(async () => {
      await Promise.all([a.drainNow(), b.drainNow()]);
      return (await b.backlog()) === 0;
    }, { what: "outbox drained" });
    const inStream = await streamOrderOf(ids);
    for (const orderId of orders) expect(inStream.get(orderId), `events of order ${orderId}`).toEqual(committed.get(orderId));
  });

  it("a failed publish in the middle of a batch holds back only its order's later events, which then follow in order", async () => {
    const { stream, subjectPrefix, coverEverything } = await streamWithoutShipped();
    const [stuck, other1, other2] = [randomUUID(), randomUUID(), randomUUID()];
    const ids = new Map<string, string>();
    const commit = async (orderId: string, kind: keyof typeof kinds) => {
      const id = await commitEvent(orderId, kind);
      ids.set(id, orderId);
      return id;
    };
    const plan: Array<[string, keyof typeof kinds]> = [
      [stuck, "created"],
      [other1, "created"],
      [stuck, "shipped"],
      [other2, "created"],
      [other1, "updated"],
      [stuck, "updated"],
      [other2, "delivered"],
    ];
    const committedIds: string[] = [];
    for (const [orderId, kind] of plan) committedIds.push(await commit(orderId, kind));
    const shippedId = committedIds[2]!;
    const r = await relay({ subjectPrefix, publishTimeoutMs: 500, retryBackoff: { initialMs: 20, maxMs: 50 }, pollIntervalMs: 50 });
    await r.drainNow();
    // Tried again on its own backoff, and meanwhile the other orders were fully published.
    await waitFor(async () => (await rowOf(shippedId)).attempts >= 3, { what: "the shipped event retried" });
    const whileStuck = await streamOrderOf(ids, stream);
    expect(whileStuck.get(other1)).toEqual([committedIds[1], committedIds[4]]);
    expect(whileStuck.get(other2)).toEqual([committedIds[3], committedIds[6]]);
    // The stuck order's updated event came after the failing one: it must not overtake it.
    expect(whileStuck.get(stuck)).toEqual([committedIds[0]]);
    const row = await rowOf(shippedId);
    expect(row.published_at).toBeNull();
    expect(row.failed_at).toBeNull();
    expect(String(row.last_error)).toMatch(/not enabled|503|no responders/i);
    await coverEverything();
    await waitFor(async () => (await r.backlog()) === 0, { what: "outbox drained once the stream covers shipped" });
    expect((await streamOrderOf(ids, stream)).get(stuck)).toEqual([committedIds[0], committedIds[2], committedIds[5]]);
  });

  it("marks a row failed after maxAttempts, logs it at error level and counts it, while later rows flow", async () => {
    const lines: Array<{ level: number; msg: string; eventId?: string }> = [];
    const logger = pino({ level: "warn" }, { write: (line: string) => void lines.push(JSON.parse(line) as (typeof lines)[number]) });
    const { stream, subjectPrefix } = await streamWithoutShipped();
    const stuck = randomUUID();
    const ids = new Map<string, string>();
    const createdId = await commitEvent(stuck, "created");
    const shippedId = await commitEvent(stuck, "shipped");
    const deliveredId = await commitEvent(stuck, "delivered");
    for (const id of [createdId, shippedId, deliveredId]) ids.set(id, stuck);
    const r = await relay({ subjectPrefix, logger, maxAttempts: 3, retryBackoff: { initialMs: 10, maxMs: 20 }, pollIntervalMs: 30 });
    await r.drainNow();
    await waitFor(async () => (await rowOf(shippedId)).failed_at !== null, { what: "the shipped event marked failed" });
    const others = new Map<string, string>();
    for (let i = 0; i < 5; i++) {
      const orderId = randomUUID();
      others.set(await commitEvent(orderId, "created"), orderId);
    }
    await waitFor(async () => (await r.backlog()) === 0, { what: "every other row published" });
    const row = await rowOf(shippedId);
    expect(row).toMatchObject({ attempts: 3, published_at: null });
    expect(String(row.last_error)).toMatch(/not enabled|503|no responders/i);
    expect(await r.failed()).toBe(1);
    const errors = lines.filter((l) => l.level === 50);
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatchObject({ eventId: shippedId });
    expect(errors[0]!.msg).toMatch(/marked failed after 3 attempts/);
    // The failed row no longer heads its order: the order's next event went out after it.
    expect((await streamOrderOf(ids, stream)).get(stuck)).toEqual([createdId, deliveredId]);
    expect([...(await streamOrderOf(others, stream)).keys()].sort()).toEqual([...others.values()].sort());
    // Given up for good: later passes leave it alone.
    await r.drainNow();
    expect((await rowOf(shippedId)).attempts).toBe(3);
  });

  it("spends no attempts while NATS is disconnected, and publishes once it is back", async () => {
    const target = new URL(TEST_NATS_URL);
    const proxy = await startTcpProxy(target.hostname, Number(target.port));
    cleanups.push(() => proxy.close());
    const nc = await connectNats(`nats://127.0.0.1:${proxy.port}`, jet.logger, "relay-outage", { reconnectTimeWaitMs: 100 });
    cleanups.push(() => nc.close());
    const r = await relay({ nc, pollIntervalMs: 50 });
    proxy.cut();
    await waitFor(() => !isNatsConnected(nc), { what: "the relay's connection to notice the cut" });
    const id = await commitEvent(randomUUID(), "created");
    await r.drainNow();
    expect(await r.backlog()).toBe(1);
    expect((await rowOf(id)).attempts).toBe(0);
    proxy.restore();
    await waitFor(async () => (await r.backlog()) === 0, { what: "published after NATS came back" });
    expect((await streamMessages()).filter((m) => m.id === id)).toHaveLength(1);
  });

  it("prunes published rows older than the retention", async () => {
    const id = await commitEvent(randomUUID(), "created");
    const r = await relay({ retentionMs: 1 });
    await r.drainNow();
    await waitFor(async () => (await db.database.sql`select 1 from outbox where id = ${id}`).length === 0, { what: "row pruned" });
  });
});
