import { randomUUID } from "node:crypto";
import { Code } from "@connectrpc/connect";
import { RetentionPolicy, StorageType } from "@nats-io/jetstream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AdminService } from "../../../gen/admin/v1/admin_pb.js";
import { outbox, outboxChannel } from "../../orders/db/schema.js";
import { createJetStreamFixture, type JetStreamFixture } from "../../../tests/support/jetstream-fixture.js";
import { startAdminHost, type AdminHost } from "../../../tests/support/admin-host.js";
import { createOrdersDatabase, type OrdersDatabase } from "../../../tests/support/orders-fixture.js";
import { failure, rpcPaths, type RpcPath } from "../../../tests/support/rpc-paths.js";
import { uniqueName } from "../../../tests/support/test-database.js";
import { waitFor } from "../../../tests/support/wait-for.js";
import { failedOutbox, insertOutboxEvents } from "../db/index.js";
import { catalogue, encodeEvent, publishEvent, startEventConsumer, startOutboxRelay, subjectOf, typeOf } from "../events/index.js";

// Layer 2: AdminService on a real host, called over every client path, with real dead letters in
// JetStream and a real outbox (orders' migrations define it).
let db: OrdersDatabase;
let jet: JetStreamFixture;
let served: AdminHost;
let paths: RpcPath[];
const list = AdminService.method.listDeadLetters;

beforeAll(async () => {
  [db, jet] = await Promise.all([createOrdersDatabase(), createJetStreamFixture()]);
  served = await startAdminHost({
    // The shipping family's streams do not exist here: a missing dead-letter stream lists as empty.
    families: { orders: { stream: jet.stream, subjectPrefix: jet.subjectPrefix }, shipping: { stream: uniqueName("NOSHIP").toUpperCase(), subjectPrefix: uniqueName("noship") } },
    outbox: failedOutbox(db.database.db, outbox, outboxChannel),
  });
  paths = rpcPaths(served.host.grpcPort, served.host.webPort!);
});

afterAll(async () => {
  paths?.forEach((p) => p.close());
  await served?.stop();
  await Promise.all([jet?.close(), db?.close()]);
});

describe("AdminService", () => {
  it("answers UNAVAILABLE for dead letters until the process is connected to NATS", async () => {
    const failed = await failure(paths[0]!.call(list, {}, { headers: served.adminHeaders }));
    expect(Code[failed.code]).toBe("Unavailable");
    served.admin.attach(jet.nc, jet.jsm);
    expect((await paths[0]!.call(list, {}, { headers: served.adminHeaders })).deadLetters).toEqual([]);
  });

  it("serves admins only, on every path: no token UNAUTHENTICATED, a customer's PERMISSION_DENIED", async () => {
    for (const path of paths) {
      expect((await path.call(list, {}, { headers: served.adminHeaders })).nextPageToken, path.name).toBe("");
      expect(Code[(await failure(path.call(list, {}))).code], path.name).toBe("Unauthenticated");
      expect(Code[(await failure(path.call(list, {}, { headers: served.customerHeaders }))).code], path.name).toBe("PermissionDenied");
      const outboxCall = path.call(AdminService.method.listFailedOutboxEvents, {}, { headers: served.customerHeaders });
      expect(Code[(await failure(outboxCall)).code], path.name).toBe("PermissionDenied");
    }
  });

  it("refuses bad requests with INVALID_ARGUMENT naming the field", async () => {
    const path = paths[0]!;
    const as = { headers: served.adminHeaders };
    const dl = jet.stream + "_DEADLETTER";
    const cases: Array<[() => Promise<unknown>, string[]]> = [
      [() => path.call(list, { pageSize: -1 }, as), ["page_size"]],
      [() => path.call(list, { pageToken: "not-a-token" }, as), ["page_token"]],
      [() => path.call(list, { filter: { stream: "ORDERS_ELSEWHERE", consumer: "a.b", eventType: "has space" } }, as), ["filter.stream", "filter.consumer", "filter.event_type"]],
      [() => path.call(AdminService.method.getDeadLetter, {}, as), ["ref"]],
      [() => path.call(AdminService.method.getDeadLetter, { ref: { stream: dl, sequence: 0n } }, as), ["ref.sequence"]],
      [() => path.call(AdminService.method.redriveDeadLetters, {}, as), ["selection"]],
      [() => path.call(AdminService.method.redriveDeadLetters, { selection: { selection: { case: "matching", value: {} } } }, as), ["selection.matching"]],
      [() => path.call(AdminService.method.discardDeadLetters, { selection: { selection: { case: "all", value: false } } }, as), ["selection.all"]],
      [() => path.call(AdminService.method.discardDeadLetters, { selection: { selection: { case: "refs", value: { refs: [] } } } }, as), ["selection.refs.refs"]],
      [
        () => path.call(AdminService.method.discardDeadLetters, { selection: { selection: { case: "refs", value: { refs: Array.from({ length: 1001 }, (_, i) => ({ stream: dl, sequence: BigInt(i + 1) })) } } } }, as),
        ["selection.refs.refs"],
      ],
      [() => path.call(AdminService.method.redriveDeadLetters, { selection: { selection: { case: "refs", value: { refs: [{ stream: "X", sequence: 1n }] } } } }, as), ["selection.refs.refs[0].stream"]],
      [() => path.call(AdminService.method.listFailedOutboxEvents, { pageToken: "eyJhIjoiLTEifQ" }, as), ["page_token"]],
      [() => path.call(AdminService.method.retryFailedOutboxEvents, {}, as), ["ids"]],
      [() => path.call(AdminService.method.retryFailedOutboxEvents, { all: true, ids: [randomUUID()] }, as), ["all"]],
      [() => path.call(AdminService.method.retryFailedOutboxEvents, { ids: [randomUUID(), "nope"] }, as), ["ids[1]"]],
    ];
    for (const [call, fields] of cases) {
      const failed = await failure(call());
      expect(Code[failed.code], fields.join()).toBe("InvalidArgument");
      expect(failed.badRequestFields).toEqual(fields);
    }
  });

  it("lists, shows and discards a real dead letter; a gone one is NOT_FOUND", async () => {
    const durable = uniqueName("refuses");
    const consumer = await startEventConsumer({
      js: jet.js, jsm: jet.jsm, logger: jet.logger, family: "orders", subjectPrefix: jet.subjectPrefix, stream: jet.stream,
      durable, events: ["orderCreated"], ackWaitMs: 5000, maxDeliver: 2, handle: async () => ({ deadLetter: "refused" }),
    });
    const eventId = randomUUID();
    const orderId = randomUUID();
    const encoded = encodeEvent(catalogue.orderCreated, { eventId, order: { id: orderId } });
    await publishEvent(jet.js, { subject: subjectOf(catalogue.orderCreated, jet.subjectPrefix), eventId, type: encoded.type, source: "/test", time: new Date(), payload: encoded.payload });
    const { client } = served;
    const [dead] = await waitFor(async () => nonEmpty((await client.listDeadLetters({ filter: { consumer: durable } })).deadLetters), { what: "the dead letter listed" });
    await consumer.stop();
    expect(dead).toMatchObject({ consumer: durable, reason: "refused", eventId, eventType: typeOf(catalogue.orderCreated), originalSubject: `${jet.subjectPrefix}.created`, deliveryCount: 1 });

    const shown = await client.getDeadLetter({ ref: { stream: dead!.stream, sequence: dead!.sequence } });
    expect(JSON.parse(shown.payloadJson)).toMatchObject({ eventId, order: { id: orderId } });
    expect(shown.payloadError).toBe("");
    expect(shown.headers.find((h) => h.name === "ce-id")?.value).toBe(eventId);

    const ref = { stream: dead!.stream, sequence: dead!.sequence };
    const discarded = await client.discardDeadLetters({ selection: { selection: { case: "refs", value: { refs: [ref] } } } });
    expect(discarded.discarded.map((r) => r.sequence)).toEqual([dead!.sequence]);
    expect(discarded.remaining).toBe(0);
    for (const call of [client.getDeadLetter({ ref }), client.redriveDeadLetters({ selection: { selection: { case: "refs", value: { refs: [ref] } } } })]) {
      const failed = await call.then(() => undefined, (err: { code: Code }) => err);
      expect(Code[failed!.code]).toBe("NotFound");
    }
  });

  it("lists failed outbox rows oldest first and retries them: each is published exactly once", async () => {
    // A stream missing `<prefix>.shipped`: the relay's publish of a shipped event fails until it covers it.
    const stream = uniqueName("ADMINOUT").toUpperCase();
    const subjectPrefix = uniqueName("ao");
    await jet.jsm.streams.add({ name: stream, subjects: [`${subjectPrefix}.created`], storage: StorageType.Memory, retention: RetentionPolicy.Limits, duplicate_window: 120e9 });
    try {
      const relay = await startOutboxRelay({ sql: db.database.sql, nc: jet.nc, logger: jet.logger, family: "orders", subjectPrefix, channel: outboxChannel, maxAttempts: 2, retryBackoff: { initialMs: 10, maxMs: 20 } });
      const ids = [randomUUID(), randomUUID()];
      for (const eventId of ids) {
        const event = encodeEvent(catalogue.orderShipped, { eventId, order: { id: randomUUID() } });
        await db.database.db.transaction((tx) => insertOutboxEvents(tx, outbox, [{ event, createdAt: new Date() }]));
      }
      const { client } = served;
      await waitFor(async () => (await client.listFailedOutboxEvents({})).events.length === 2, { what: "both rows failed" });
      const first = await client.listFailedOutboxEvents({ pageSize: 1 });
      expect(first.events.map((e) => e.id)).toEqual([ids[0]]);
      expect(first.events[0]).toMatchObject({ eventType: typeOf(catalogue.orderShipped), attempts: 2 });
      expect(first.events[0]!.lastError).not.toBe("");
      const second = await client.listFailedOutboxEvents({ pageSize: 1, pageToken: first.nextPageToken });
      expect(second.events.map((e) => e.id)).toEqual([ids[1]]);
      expect(second.nextPageToken).toBe("");

      await jet.jsm.streams.update(stream, { subjects: [`${subjectPrefix}.>`] });
      expect(await client.retryFailedOutboxEvents({ ids: [ids[0]!, randomUUID()] })).toMatchObject({ retried: [ids[0]], remaining: 1 });
      expect(await client.retryFailedOutboxEvents({ all: true })).toMatchObject({ retried: [ids[1]], remaining: 0 });
      await waitFor(async () => (await relay.backlog()) === 0 && (await jet.jsm.streams.info(stream)).state.messages === 2, { what: "both published" });
      // A retry of rows already published changes nothing: they are no failed rows.
      expect(await client.retryFailedOutboxEvents({ ids })).toMatchObject({ retried: [], remaining: 0 });
      await relay.drainNow();
      const published = await Promise.all([1, 2].map((seq) => jet.jsm.streams.getMessage(stream, { seq })));
      expect(published.map((m) => m!.header.get("ce-id")).sort()).toEqual([...ids].sort());
      expect((await jet.jsm.streams.info(stream)).state.messages).toBe(2);
      await relay.stop();
    } finally {
      await jet.jsm.streams.delete(stream).catch(() => false);
    }
  });
});

/** The list when it holds something (waitFor takes an empty array for an answer). */
function nonEmpty<T>(items: T[]): T[] | undefined {
  return items.length > 0 ? items : undefined;
}
