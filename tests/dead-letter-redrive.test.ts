import { headers } from "@nats-io/transport-node";
import { afterAll, beforeAll, expect, it } from "vitest";
import { eventMessageId, createMailer, type Mailer } from "../services/notifier/mailer.js";
import { startOrderEventsConsumer } from "../services/notifier/order-events-consumer.js";
import { failedOutbox, outboxTable } from "../services/platform/db/index.js";
import { deadLetterStreamName, type DurableConsumer } from "../services/platform/events/index.js";
import { startAdminHost, type AdminHost } from "./support/admin-host.js";
import { createJetStreamFixture, testStreamLimits, type JetStreamFixture } from "./support/jetstream-fixture.js";
import { createNotifierDatabase, type NotifierDatabase } from "./support/notifier-database.js";
import { publishOrderEvent, sampleEvent } from "./support/order-events.js";
import { startSmtpSink, type SmtpSink } from "./support/smtp-sink.js";
import { uniqueName } from "./support/test-database.js";
import { waitFor } from "./support/wait-for.js";

// "A redriven event is handled exactly once, like any other" (issue 12): the notifier's real consumer
// gives up on an order's confirmation while SMTP refuses its recipient, an operator redrives it over
// AdminService, one email goes out; a second copy of the same dead letter redriven later (the crash
// between a redrive's publish and its removal, once the stream's duplicate window is over) sends none.
let f: JetStreamFixture;
let n: NotifierDatabase;
let smtp: SmtpSink;
let mailer: Mailer;
let consumer: DurableConsumer;
let served: AdminHost;
const durable = uniqueName("notifier");

beforeAll(async () => {
  [f, n, smtp] = await Promise.all([createJetStreamFixture(), createNotifierDatabase(), startSmtpSink()]);
  mailer = await createMailer({ smtpUrl: smtp.url, from: "shop <shop@example.com>", emailDir: "unused", timeoutMs: 2000, logger: f.logger });
  consumer = await startOrderEventsConsumer({
    js: f.js, jsm: f.jsm, stream: f.stream, subjectPrefix: f.subjectPrefix, store: n.store, mailer, logger: f.logger, durable,
    ackWaitMs: 5000, sendTimeoutMs: 2000, maxDeliver: 3, retryBackoff: { initialMs: 50, maxMs: 100 }, streamLimits: testStreamLimits,
  });
  served = await startAdminHost({
    families: { orders: { stream: f.stream, subjectPrefix: f.subjectPrefix }, shipping: { stream: uniqueName("NOSHIP").toUpperCase(), subjectPrefix: uniqueName("noship") } },
    // The notifier has no outbox: this test calls no outbox RPC, so the table is never read.
    outbox: failedOutbox(n.database.db, outboxTable()),
  });
  served.admin.attach(f.nc, f.jsm);
});

afterAll(async () => {
  await consumer?.stop();
  mailer?.close();
  await served?.stop();
  await Promise.all([f?.close(), n?.close(), smtp?.stop()]);
});

/** The consumer has received everything the stream holds and settled it. */
async function consumerSettled(): Promise<void> {
  await waitFor(async () => {
    const [info, stream] = await Promise.all([f.jsm.consumers.info(f.stream, durable), f.jsm.streams.info(f.stream)]);
    return info.delivered.stream_seq >= stream.state.last_seq && info.num_pending === 0 && info.num_ack_pending === 0;
  }, { what: "consumer settled" });
}

it("a redriven event is handled exactly once, also when the same dead letter is redriven twice", async () => {
  const event = sampleEvent("created");
  const emails = () => smtp.emails.filter((m) => m.messageId === eventMessageId(event.eventId));
  smtp.rejectedRecipients.add(event.order.customerEmail);
  await publishOrderEvent(f.js, f.subjectPrefix, event);

  const { client } = served;
  const [dead] = await waitFor(async () => nonEmpty((await client.listDeadLetters({ filter: { consumer: durable } })).deadLetters), { what: "the confirmation dead-lettered" });
  expect(dead).toMatchObject({ eventId: event.eventId, deliveryCount: 3 });
  expect(dead!.reason).toMatch(/gave up after 3 deliveries/);
  expect((await n.store.get(event.eventId))?.status).toBe("failed");
  expect(emails()).toHaveLength(0);
  // What the dead letter holds, to put a second copy of it back later.
  const stored = (await f.jsm.streams.getMessage(dead!.stream, { seq: Number(dead!.sequence) }))!;

  // SMTP takes the recipient again; the operator redrives.
  smtp.rejectedRecipients.delete(event.order.customerEmail);
  const ref = { stream: dead!.stream, sequence: dead!.sequence };
  const redriven = await client.redriveDeadLetters({ selection: { selection: { case: "refs", value: { refs: [ref] } } } });
  expect(redriven.redriven.map((r) => r.sequence)).toEqual([dead!.sequence]);
  expect(redriven.remaining).toBe(0);
  await waitFor(() => emails().length === 1, { what: "the confirmation sent" });
  await consumerSettled();
  expect((await n.store.get(event.eventId))?.status).toBe("sent");
  expect((await client.listDeadLetters({})).deadLetters).toEqual([]);

  // The same dead letter once more, at a new sequence: its redrive id is new, so the stream keeps it
  // and the consumer gets the event again; the event id is what stops a second email.
  const copy = headers();
  for (const [name, values] of stored.header) values.forEach((v) => copy.append(name, v));
  copy.set("Nats-Msg-Id", `${stored.header.get("Nats-Msg-Id")}:copy`);
  await f.js.publish(stored.subject, stored.data, { headers: copy });
  const [again] = (await client.listDeadLetters({ filter: { consumer: durable } })).deadLetters;
  expect(again!.eventId).toBe(event.eventId);
  expect(again!.sequence).not.toBe(dead!.sequence);
  const before = (await f.jsm.streams.info(f.stream)).state.last_seq;
  await client.redriveDeadLetters({ selection: { selection: { case: "matching", value: { stream: deadLetterStreamName(f.stream), consumer: durable } } } });
  expect((await f.jsm.streams.info(f.stream)).state.last_seq).toBe(before + 1);
  await consumerSettled();
  expect(emails()).toHaveLength(1);
  expect((await client.listDeadLetters({})).deadLetters).toEqual([]);
});

/** The list when it holds something (waitFor takes an empty array for an answer). */
function nonEmpty<T>(items: T[]): T[] | undefined {
  return items.length > 0 ? items : undefined;
}
