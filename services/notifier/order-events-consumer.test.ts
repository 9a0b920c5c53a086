import { create, toBinary } from "@bufbuild/protobuf";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { OrderCreatedSchema } from "../../gen/orders/v1/events_pb.js";
import { waitFor } from "../../tests/support/wait-for.js";
import { createJetStreamFixture, type JetStreamFixture } from "../../tests/support/jetstream-fixture.js";
import { createNotifierDatabase, type NotifierDatabase } from "../../tests/support/notifier-database.js";
import { publishOrderEvent, sampleEvent, sampleOrder, type SampleEvent } from "../../tests/support/order-events.js";
import { startSmtpSink, type SmtpSink } from "../../tests/support/smtp-sink.js";
import { uniqueName } from "../../tests/support/test-database.js";
import type { DurableConsumer } from "../platform/events/index.js";
import { createMailer, eventMessageId, type Mailer } from "./mailer.js";
import { decodeOrderEvent, startOrderEventsConsumer } from "./order-events-consumer.js";

let f: JetStreamFixture;
let n: NotifierDatabase;
let smtp: SmtpSink;
let mailer: Mailer;
let consumer: DurableConsumer;
const durable = uniqueName("notifier");
const maxDeliver = 5;

beforeAll(async () => {
  [f, n, smtp] = await Promise.all([createJetStreamFixture(), createNotifierDatabase(), startSmtpSink()]);
  mailer = await createMailer({ smtpUrl: smtp.url, from: "shop <shop@example.com>", emailDir: "unused", timeoutMs: 2000, logger: f.logger });
  consumer = await startOrderEventsConsumer({
    js: f.js,
    jsm: f.jsm,
    stream: f.stream,
    subjectPrefix: f.subjectPrefix,
    store: n.store,
    mailer,
    logger: f.logger,
    durable,
    ackWaitMs: 5000,
    maxDeliver,
    retryBackoffMs: { initial: 100, max: 400 },
  });
});
afterAll(async () => {
  await consumer?.stop();
  mailer?.close();
  await Promise.all([f?.close(), n?.close(), smtp?.stop()]);
});

const emailsOf = (e: SampleEvent) => smtp.emails.filter((m) => m.messageId === eventMessageId(e.eventId));

/** Publishes a marker event and waits for its email: everything published before it was handled (one consumer, in order). */
async function drain(): Promise<void> {
  const marker = sampleEvent("created");
  await publishOrderEvent(f.js, f.subjectPrefix, marker);
  await waitFor(() => emailsOf(marker).length === 1, { what: "marker email" });
}

describe("order events consumer", () => {
  it("sends one email per event, with the order's total", async () => {
    const events = Array.from({ length: 8 }, () => sampleEvent("created"));
    const cancelled = sampleEvent("cancelled", sampleOrder({ currency: "USD" }));
    for (const e of [...events, cancelled]) await publishOrderEvent(f.js, f.subjectPrefix, e);
    await waitFor(() => [...events, cancelled].every((e) => emailsOf(e).length === 1), { what: "9 emails" });
    await drain();
    for (const e of events) {
      const [email] = emailsOf(e);
      expect(emailsOf(e)).toHaveLength(1);
      expect(email!.subject).toBe(`Order #${e.order.id} confirmed`);
      expect(email!.to).toBe(e.order.customerEmail);
      expect(email!.body).toContain("Total: €28.99");
      expect(email!.body).toContain("TEA-&lt;EARL&gt;");
      expect(await n.store.get(e.eventId)).toMatchObject({ status: "sent", attempts: 1, orderId: e.order.id });
    }
    expect(emailsOf(cancelled)[0]!.subject).toBe(`Order #${cancelled.order.id} cancelled`);
    expect(emailsOf(cancelled)[0]!.body).toContain("Total: $28.99");
    expect(consumer.isAlive()).toBe(true);
  });

  it("sends no second email for a redelivered or re-published event", async () => {
    const e = sampleEvent("created");
    await publishOrderEvent(f.js, f.subjectPrefix, e);
    await waitFor(() => emailsOf(e).length === 1, { what: "first email" });
    // Same Nats-Msg-Id: dropped by JetStream. New Nats-Msg-Id (a re-publish after the duplicate
    // window): delivered again and skipped by the claimed event id.
    const sameId = await publishOrderEvent(f.js, f.subjectPrefix, e);
    const newId = await publishOrderEvent(f.js, f.subjectPrefix, e, crypto.randomUUID());
    expect(sameId.duplicate).toBe(true);
    expect(newId.duplicate).toBe(false);
    await drain();
    expect(emailsOf(e)).toHaveLength(1);
    expect((await n.store.get(e.eventId))?.attempts).toBe(1);
  });

  it("retries while SMTP is down and sends each email once after it returns", async () => {
    await smtp.down();
    const events = Array.from({ length: 3 }, () => sampleEvent("created"));
    try {
      for (const e of events) await publishOrderEvent(f.js, f.subjectPrefix, e);
      // Each event was tried at least twice and failed on a refused connection.
      await waitFor(async () => {
        const rows = await Promise.all(events.map((e) => n.store.get(e.eventId)));
        return rows.every((r) => r && r.attempts >= 2 && r.status === "pending" && /ECONNREFUSED/.test(r.lastError ?? ""));
      }, { what: "failed attempts recorded", timeoutMs: 20_000 });
    } finally {
      await smtp.up();
    }
    await waitFor(() => events.every((e) => emailsOf(e).length === 1), { what: "emails after SMTP returned", timeoutMs: 20_000 });
    await drain();
    for (const e of events) {
      expect(emailsOf(e)).toHaveLength(1);
      const row = await n.store.get(e.eventId);
      expect(row).toMatchObject({ status: "sent", lastError: null });
      expect(row!.attempts).toBeGreaterThanOrEqual(2);
    }
  });

  it("dead-letters poison messages and keeps going; other subjects are skipped", async () => {
    const before = (await f.deadLetters()).length;
    await f.js.publish(`${f.subjectPrefix}.created`, new Uint8Array([0xff, 0xff, 0xff]), { msgID: crypto.randomUUID() });
    const noEmail = sampleEvent("created", sampleOrder({ customerEmail: "" }));
    await publishOrderEvent(f.js, f.subjectPrefix, noEmail);
    await f.js.publish(`${f.subjectPrefix}.shipped`, new Uint8Array([1, 2, 3]));
    await drain();
    const dead = (await f.deadLetters()).slice(before);
    expect(dead.map((m) => m.header.get("x-deadletter-reason"))).toEqual([
      expect.stringMatching(/^undecodable payload on .*\.created/),
      `order ${noEmail.order.id} has no customer email`,
    ]);
    expect(dead.every((m) => m.subject === `deadletter.${f.subjectPrefix}.${durable}`)).toBe(true);
    expect(consumer.isAlive()).toBe(true);
  });

  it("gives up after max_deliver failed sends: dead letter, notification marked failed", async () => {
    const e = sampleEvent("created", sampleOrder({ customerEmail: "gone@example.com" }));
    smtp.rejectedRecipients.add("gone@example.com");
    const published = await publishOrderEvent(f.js, f.subjectPrefix, e);
    const row = await waitFor(async () => {
      const r = await n.store.get(e.eventId);
      return r?.status === "failed" ? r : undefined;
    }, { what: "notification failed", timeoutMs: 20_000 });
    expect(row.attempts).toBe(maxDeliver);
    expect(row.lastError).toMatch(/gave up after 5 deliveries: .*550/);
    // A dead letter's Nats-Msg-Id names the consumer and the original message (durable-consumer.ts), not the event.
    const dead = (await f.deadLetters()).filter((m) => m.header.get("Nats-Msg-Id") === `${durable}:${f.stream}:${published.seq}`);
    expect(dead).toHaveLength(1);
    expect(emailsOf(e)).toHaveLength(0);
  });
});

describe("decodeOrderEvent", () => {
  it("decodes by subject, skips other kinds and calls incomplete events poison", () => {
    const e = sampleEvent("created");
    expect(decodeOrderEvent("orders", "orders.created", e.payload)).toMatchObject({ kind: "created", eventId: e.eventId, cancelReason: "" });
    const c = sampleEvent("cancelled");
    expect(decodeOrderEvent("orders", "orders.cancelled", c.payload)).toMatchObject({ kind: "cancelled", cancelReason: "changed my mind" });
    expect(decodeOrderEvent("orders", "orders.updated", e.payload)).toEqual({ ignore: "no email for orders.updated" });
    const badId = toBinary(OrderCreatedSchema, create(OrderCreatedSchema, { eventId: "42", order: e.order }));
    expect(decodeOrderEvent("orders", "orders.created", badId)).toEqual({ poison: 'event_id "42" is not a UUID' });
    const noOrder = toBinary(OrderCreatedSchema, create(OrderCreatedSchema, { eventId: e.eventId }));
    expect(decodeOrderEvent("orders", "orders.created", noOrder)).toEqual({ poison: "event carries no order with a UUID id" });
  });
});
