import { create } from "@bufbuild/protobuf";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { OrderCreatedSchema } from "../../gen/orders/v1/events_pb.js";
import { waitFor } from "../../tests/support/wait-for.js";
import { createJetStreamFixture, testStreamLimits, type JetStreamFixture } from "../../tests/support/jetstream-fixture.js";
import { createNotifierDatabase, type NotifierDatabase } from "../../tests/support/notifier-database.js";
import { publishOrderEvent, sampleEvent, sampleOrder, sampleShipment, type SampleEvent } from "../../tests/support/order-events.js";
import { startSmtpSink, type SmtpSink } from "../../tests/support/smtp-sink.js";
import { uniqueName } from "../../tests/support/test-database.js";
import { catalogue, type DurableConsumer } from "../platform/events/index.js";
import { createMailer, eventMessageId, type Mailer } from "./mailer.js";
import { notificationOf, startOrderEventsConsumer, type OrderEventsConsumerOptions } from "./order-events-consumer.js";

let f: JetStreamFixture;
let n: NotifierDatabase;
let smtp: SmtpSink;
let mailer: Mailer;
let consumer: DurableConsumer;
const durable = uniqueName("notifier");
const maxDeliver = 5;

beforeAll(async () => {
  [f, n, smtp] = await Promise.all([createJetStreamFixture(), createNotifierDatabase(), startSmtpSink()]);
  mailer = await createMailer({ smtpUrl: smtp.url, from: "shop <shop@example.com>", emailDir: "unused", timeoutMs: 2000, maxConnections: 4, logger: f.logger });
  consumer = await startOrderEventsConsumer(consumerOptions(f, durable));
});

/** The notifier's consumer on a fixture's stream, with test-short backoff and four sends at once. */
function consumerOptions(fixture: JetStreamFixture, name: string): OrderEventsConsumerOptions {
  return {
    js: fixture.js,
    jsm: fixture.jsm,
    stream: fixture.stream,
    subjectPrefix: fixture.subjectPrefix,
    store: n.store,
    mailer,
    logger: fixture.logger,
    durable: name,
    ackWaitMs: 5000,
    sendTimeoutMs: 2000,
    maxDeliver,
    retryBackoff: { initialMs: 100, maxMs: 400 },
    concurrency: 4,
    streamLimits: testStreamLimits,
  };
}
afterAll(async () => {
  await consumer?.stop();
  mailer?.close();
  await Promise.all([f?.close(), n?.close(), smtp?.stop()]);
});

const emailsOf = (e: SampleEvent) => smtp.emails.filter((m) => m.messageId === eventMessageId(e.eventId));

/**
 * Publishes a marker event, waits for its email and then for the consumer to hold nothing unacked:
 * everything published before it was delivered, and what was delivered is settled (acks follow the
 * emails). The marker alone is not enough: another order's events may still wait behind their own.
 */
async function drain(): Promise<void> {
  const marker = sampleEvent("created");
  await publishOrderEvent(f.js, f.subjectPrefix, marker);
  await waitFor(() => emailsOf(marker).length === 1, { what: "marker email" });
  await waitFor(async () => {
    const info = await f.jsm.consumers.info(f.stream, durable);
    return info.num_pending === 0 && info.num_ack_pending === 0;
  }, { what: "consumer settled" });
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
    await f.js.publish(`${f.subjectPrefix}.no_such_event`, new Uint8Array([1, 2, 3]));
    await drain();
    const dead = (await f.deadLetters()).slice(before);
    expect(dead.map((m) => m.header.get("x-deadletter-reason"))).toEqual([
      expect.stringMatching(/^undecodable orders\.v1\.OrderCreated on .*\.created/),
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

describe("order events consumer, one email per milestone", () => {
  it("mails created, shipped (carrier and tracking number), delivered and cancelled, in the order's order; nothing for updates", async () => {
    const order = sampleOrder();
    const created = sampleEvent("created", order);
    const updated = sampleEvent("updated", order);
    const shipped = sampleEvent("shipped", order);
    const delivered = sampleEvent("delivered", order);
    const second = sampleOrder();
    const requested = sampleEvent("cancellationRequested", second);
    const cancelled = sampleEvent("cancelled", second);
    for (const e of [created, updated, requested, shipped, cancelled, delivered]) await publishOrderEvent(f.js, f.subjectPrefix, e);
    await drain();
    const subjects = smtp.emails.filter((m) => m.to === order.customerEmail).map((m) => m.subject);
    expect(subjects).toEqual([`Order #${order.id} confirmed`, `Order #${order.id} shipped`, `Order #${order.id} delivered`]);
    const [shippedEmail] = emailsOf(shipped);
    expect(shippedEmail!.body).toContain(`Tracking number: ${sampleShipment.trackingNumber}`);
    expect(shippedEmail!.body).toContain(`Carrier: ${sampleShipment.carrier}`);
    expect(emailsOf(cancelled).map((m) => m.subject)).toEqual([`Order #${second.id} cancelled`]);
    expect(emailsOf(updated)).toHaveLength(0);
    expect(emailsOf(requested)).toHaveLength(0);
    expect((await n.store.listByOrder(order.id)).map((r) => [r.kind, r.status])).toEqual([
      ["created", "sent"],
      ["shipped", "sent"],
      ["delivered", "sent"],
    ]);
    expect(await n.store.get(updated.eventId)).toBeUndefined();
  });

  it("claims what it holds as one batch, and retries a failed send alone while the rest are acked", async () => {
    // A stream of its own, filled before its consumer starts: the first pull brings every event at once.
    const own = await createJetStreamFixture();
    const name = uniqueName("batch");
    let batchConsumer: DurableConsumer | undefined;
    try {
      const events = Array.from({ length: 10 }, () => sampleEvent("created"));
      const flaky = sampleEvent("shipped", sampleOrder({ customerEmail: `flaky-${crypto.randomUUID().slice(0, 8)}@example.com` }));
      smtp.rejectedRecipients.add(flaky.order.customerEmail);
      for (const e of [...events.slice(0, 5), flaky, ...events.slice(5)]) await publishOrderEvent(own.js, own.subjectPrefix, e);
      batchConsumer = await startOrderEventsConsumer(consumerOptions(own, name));
      await waitFor(() => events.every((e) => emailsOf(e).length === 1), { what: "the batch's other emails" });
      // The refused one was tried and is being retried; the rest went out once, on their first delivery.
      await waitFor(async () => ((await n.store.get(flaky.eventId))?.attempts ?? 0) >= 2, { what: "flaky retried" });
      smtp.rejectedRecipients.delete(flaky.order.customerEmail);
      await waitFor(() => emailsOf(flaky).length === 1, { what: "flaky sent after all" });
      const rows = await Promise.all(events.map((e) => n.store.get(e.eventId)));
      for (const row of rows) expect(row).toMatchObject({ status: "sent", attempts: 1 });
      // Claimed together: a claim transaction stamps its rows with its own start time (now()).
      expect(new Set(rows.map((r) => r!.createdAt.getTime())).size).toBeLessThan(events.length / 2);
      expect(emailsOf(flaky)).toHaveLength(1);
      expect(events.map((e) => emailsOf(e).length)).toEqual(events.map(() => 1));
      await waitFor(async () => {
        const info = await own.jsm.consumers.info(own.stream, name);
        return info.num_ack_pending === 0 && info.num_pending === 0;
      }, { what: "batch consumer settled" });
    } finally {
      await batchConsumer?.stop();
      await own.close();
    }
  });
});

describe("order events consumer with a slow SMTP server", () => {
  it("starts no send a batch's AckWait could not cover: late ones are retried, every email goes out once", async () => {
    const own = await createJetStreamFixture();
    const name = uniqueName("slow");
    let slowConsumer: DurableConsumer | undefined;
    const slowMailer = await createMailer({ smtpUrl: smtp.url, from: "shop <shop@example.com>", emailDir: "unused", timeoutMs: 1000, logger: f.logger });
    smtp.acceptDelayMs = 150;
    try {
      const events = Array.from({ length: 8 }, () => sampleEvent("created"));
      for (const e of events) await publishOrderEvent(own.js, own.subjectPrefix, e);
      // AckWait 2 s, sends of up to 1 s: sends start within 0.5 s of their batch, one at a time.
      slowConsumer = await startOrderEventsConsumer({ ...consumerOptions(own, name), mailer: slowMailer, ackWaitMs: 2000, sendTimeoutMs: 1000, concurrency: 1 });
      await waitFor(() => events.every((e) => emailsOf(e).length === 1), { what: "every email", timeoutMs: 20_000 });
      // The last batch commits "sent" after its last email reached the server: wait for that too.
      const rows = await waitFor(async () => {
        const stored = await Promise.all(events.map((e) => n.store.get(e.eventId)));
        return stored.every((r) => r?.status === "sent") ? stored : undefined;
      }, { what: "every row sent" });
      // Some had to wait for a later batch, yet none was sent twice.
      expect(rows.some((r) => r!.attempts > 1)).toBe(true);
      expect(events.map((e) => emailsOf(e).length)).toEqual(events.map(() => 1));
    } finally {
      smtp.acceptDelayMs = 0;
      await slowConsumer?.stop();
      slowMailer.close();
      await own.close();
    }
  });
});

describe("notificationOf", () => {
  const decoded = (e: SampleEvent, key: "orderCreated" | "orderCancelled" | "orderShipped", message: unknown) =>
    ({ key, definition: catalogue[key], event: message, orderId: e.order.id }) as Parameters<typeof notificationOf>[0];

  it("builds the claim and email of a milestone; calls what the notifier cannot store or send poison", () => {
    const e = sampleEvent("created");
    const created = create(OrderCreatedSchema, { eventId: e.eventId.toUpperCase(), order: e.order });
    expect(notificationOf(decoded(e, "orderCreated", created))).toMatchObject({
      claim: { eventId: e.eventId, orderId: e.order.id, kind: "created", recipient: e.order.customerEmail, subject: `Order #${e.order.id} confirmed` },
    });
    const c = sampleEvent("cancelled");
    const cancelled = notificationOf(decoded(c, "orderCancelled", { eventId: c.eventId, order: c.order, reason: "changed my mind" }));
    expect("email" in cancelled && cancelled.email.text).toContain("cancelled: changed my mind");
    expect(notificationOf(decoded(e, "orderCreated", create(OrderCreatedSchema, { eventId: "42", order: e.order })))).toEqual({ poison: 'event_id "42" is not a UUID' });
    expect(notificationOf(decoded(e, "orderCreated", create(OrderCreatedSchema, { eventId: e.eventId, order: { ...e.order, id: "o-1" } })))).toEqual({ poison: "event carries no order with a UUID id" });
    const noEmail = create(OrderCreatedSchema, { eventId: e.eventId, order: { ...e.order, customerEmail: "" } });
    expect(notificationOf(decoded(e, "orderCreated", noEmail))).toEqual({ poison: `order ${e.order.id} has no customer email` });
  });
});
