import { randomUUID } from "node:crypto";
import { headers } from "@nats-io/transport-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createJetStreamFixture, type JetStreamFixture } from "../../../tests/support/jetstream-fixture.js";
import { uniqueName } from "../../../tests/support/test-database.js";
import { waitFor } from "../../../tests/support/wait-for.js";
import { catalogue, encodeEvent, subjectOf, typeOf, type EventDefinition } from "./catalogue.js";
import { publishEvent } from "./cloudevents.js";
import { DeadLetterHeader } from "./dead-letter.js";
import {
  createDeadLetterStore,
  DeadLetterNotFoundError,
  maxDeadLettersPerCall,
  redriveMessageId,
  UnknownDeadLetterStreamError,
  type DeadLetterRef,
  type DeadLetterStore,
} from "./dead-letter-store.js";
import { startEventConsumer } from "./event-consumer.js";
import { deadLetterStreamName, deadLetterSubject } from "./event-stream.js";

// The store against real dead letters: two real consumers that give up on every event they get.
let f: JetStreamFixture;
let store: DeadLetterStore;
let dlStream: string;
const everything = uniqueName("everything");
const cancellations = uniqueName("cancellations");
const created: string[] = [];
const cancelled: string[] = [];
let poisonRef: DeadLetterRef;

/** Publishes an orders event as the relay would; returns its event id. */
async function publishOrderEvent(definition: EventDefinition): Promise<string> {
  const eventId = randomUUID();
  const encoded = encodeEvent(definition as typeof catalogue.orderCreated, { eventId, order: { id: randomUUID(), customerEmail: "a@example.com" } });
  await publishEvent(f.js, { subject: subjectOf(definition, f.subjectPrefix), eventId, type: encoded.type, source: "/test", time: new Date(), payload: encoded.payload });
  return eventId;
}

beforeAll(async () => {
  f = await createJetStreamFixture();
  dlStream = deadLetterStreamName(f.stream);
  store = createDeadLetterStore({ jsm: f.jsm, families: { orders: { stream: f.stream, subjectPrefix: f.subjectPrefix } } });
  for (let i = 0; i < 3; i++) created.push(await publishOrderEvent(catalogue.orderCreated));
  for (let i = 0; i < 2; i++) cancelled.push(await publishOrderEvent(catalogue.orderCancelled));
  // A known subject with bytes that are no OrderCreated: poison, dead-lettered undecoded.
  await f.js.publish(subjectOf(catalogue.orderCreated, f.subjectPrefix), new Uint8Array([0xff, 0xff, 0xff]), { msgID: randomUUID() });
  const common = { js: f.js, jsm: f.jsm, logger: f.logger, family: "orders" as const, subjectPrefix: f.subjectPrefix, stream: f.stream, ackWaitMs: 5000, maxDeliver: 2 };
  const consumers = [
    await startEventConsumer({ ...common, durable: everything, events: ["orderCreated", "orderCancelled"], handle: async () => ({ deadLetter: "handler refused it" }) }),
    await startEventConsumer({ ...common, durable: cancellations, events: ["orderCancelled"], handle: async () => ({ deadLetter: "no cancellations today" }) }),
  ];
  await waitFor(async () => (await f.deadLetters()).length === 8, { what: "8 dead letters" });
  await Promise.all(consumers.map((c) => c.stop()));
  const poison = (await f.deadLetters()).find((m) => m.data.length === 3)!;
  poisonRef = { stream: dlStream, sequence: poison.seq };
});

afterAll(async () => {
  await f?.close();
});

const idsOf = (page: { deadLetters: Array<{ eventId: string }> }) => page.deadLetters.map((d) => d.eventId);

describe("dead-letter store", () => {
  it("lists dead letters oldest first with what their headers say, filtered by consumer and event type", async () => {
    const all = await store.list({}, 100);
    expect(all.next).toBeUndefined();
    expect(all.deadLetters).toHaveLength(8);
    const sequences = all.deadLetters.map((d) => d.sequence);
    expect(sequences).toEqual([...sequences].sort((a, b) => a - b));
    const first = all.deadLetters.find((d) => d.eventId === created[0])!;
    expect(first).toMatchObject({
      stream: dlStream,
      consumer: everything,
      reason: "handler refused it",
      originalSubject: `${f.subjectPrefix}.created`,
      originalStream: f.stream,
      deliveryCount: 1,
      eventType: typeOf(catalogue.orderCreated),
    });
    expect(Math.abs(first.deadLetteredAt.getTime() - Date.now())).toBeLessThan(60_000);

    expect(idsOf(await store.list({ consumer: cancellations }, 100)).sort()).toEqual([...cancelled].sort());
    const cancelledType = await store.list({ eventType: typeOf(catalogue.orderCancelled) }, 100);
    expect(cancelledType.deadLetters).toHaveLength(4);
    expect(await store.list({ consumer: "nobody" }, 100)).toEqual({ deadLetters: [], next: undefined });
  });

  it("pages by stream and sequence without skipping or repeating, and the last page has no cursor", async () => {
    const seen: number[] = [];
    let from: DeadLetterRef | undefined;
    let pages = 0;
    do {
      const page = await store.list({}, 3, from);
      seen.push(...page.deadLetters.map((d) => d.sequence));
      from = page.next;
      pages++;
    } while (from);
    expect(pages).toBe(3);
    expect(seen).toEqual((await store.list({}, 100)).deadLetters.map((d) => d.sequence));
  });

  it("shows one dead letter with its headers and its payload as protobuf JSON, or why the payload does not decode", async () => {
    const ref = (await store.list({ consumer: everything, eventType: typeOf(catalogue.orderCreated) }, 1)).deadLetters[0]!;
    const detail = (await store.get(ref))!;
    expect(detail.payloadError).toBeUndefined();
    const json = JSON.parse(detail.payloadJson!) as { eventId: string; order: { id: string } };
    expect(json.eventId).toBe(ref.eventId);
    expect(detail.headers).toEqual(expect.arrayContaining([{ name: "ce-id", value: ref.eventId }, { name: DeadLetterHeader.reason, value: "handler refused it" }]));
    expect(detail.payloadBytes).toBeGreaterThan(0);

    const poison = (await store.get(poisonRef))!;
    expect(poison.payloadJson).toBeUndefined();
    expect(poison.payloadError).toMatch(/^undecodable orders\.v1\.OrderCreated/);
    expect(poison.payloadBytes).toBe(3);
    expect(poison.reason).toMatch(/undecodable/);

    expect(await store.get({ stream: dlStream, sequence: 999_999 })).toBeUndefined();
    await expect(store.get({ stream: "NOT_A_STREAM", sequence: 1 })).rejects.toBeInstanceOf(UnknownDeadLetterStreamError);
  });

  it("redrives to the original subject with the original headers, a per-dead-letter Nats-Msg-Id, and removes the dead letter", async () => {
    const target = (await store.list({ consumer: everything }, 100)).deadLetters.find((d) => d.eventId === created[1])!;
    const before = (await f.jsm.streams.info(f.stream)).state.last_seq;
    const result = await store.redrive({ refs: [target] });
    expect(result).toEqual({ done: [{ stream: dlStream, sequence: target.sequence }], remaining: 0 });
    expect(await store.get(target)).toBeUndefined();

    const copy = await f.jsm.streams.getMessage(f.stream, { seq: before + 1 });
    expect(copy!.subject).toBe(`${f.subjectPrefix}.created`);
    expect(copy!.header.get("ce-id")).toBe(created[1]);
    expect(copy!.header.get("Nats-Msg-Id")).toBe(redriveMessageId(target));
    for (const name of Object.values(DeadLetterHeader)) expect(copy!.header.has(name)).toBe(false);
    expect((await f.jsm.streams.info(f.stream)).state.last_seq).toBe(before + 1);
  });

  it("a redrive repeated after a crash between its publish and its removal is dropped by the stream, and the dead letter still goes", async () => {
    const target = (await store.list({ consumer: everything }, 100)).deadLetters.find((d) => d.eventId === created[2])!;
    const stored = (await f.jsm.streams.getMessage(dlStream, { seq: target.sequence }))!;
    // The first attempt: published, then the process died before it removed the dead letter.
    const h = headers();
    h.set("ce-id", target.eventId);
    await f.js.publish(target.originalSubject, stored.data, { headers: h, msgID: redriveMessageId(target) });
    const before = (await f.jsm.streams.info(f.stream)).state.last_seq;
    expect((await store.redrive({ refs: [target] })).done).toHaveLength(1);
    expect((await f.jsm.streams.info(f.stream)).state.last_seq).toBe(before);
    expect(await store.get(target)).toBeUndefined();
  });

  it("refuses a selection naming a dead letter that is gone, acting on none of it", async () => {
    const live = (await store.list({ consumer: cancellations }, 1)).deadLetters[0]!;
    const gone = { stream: dlStream, sequence: 999_999 };
    const err = await store.redrive({ refs: [live, gone] }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DeadLetterNotFoundError);
    expect((err as DeadLetterNotFoundError).refs).toEqual([gone]);
    expect(await store.get(live)).toBeDefined();
  });

  it("discards by ref and by filter, saying how many of the selection are left", async () => {
    const [one] = (await store.list({ consumer: cancellations }, 1)).deadLetters;
    expect(await store.discard({ refs: [one!] })).toEqual({ done: [{ stream: dlStream, sequence: one!.sequence }], remaining: 0 });
    expect(await store.get(one!)).toBeUndefined();
    const rest = await store.discard({ matching: { consumer: cancellations } });
    expect(rest.done).toHaveLength(1);
    expect(rest.remaining).toBe(0);
    expect(await store.list({ consumer: cancellations }, 100)).toEqual({ deadLetters: [], next: undefined });
    // The other consumer's dead letters were not touched.
    expect((await store.list({ consumer: everything }, 100)).deadLetters.length).toBeGreaterThan(0);
  });

  it(`acts on at most ${maxDeadLettersPerCall} per call and counts the rest`, async () => {
    const bulk = uniqueName("bulk");
    const acks = Array.from({ length: maxDeadLettersPerCall + 5 }, (_, i) => {
      const h = headers();
      h.set(DeadLetterHeader.originalSubject, `${f.subjectPrefix}.created`);
      h.set("ce-type", i % 2 === 0 ? "orders.v1.OrderCreated" : "orders.v1.OrderUpdated");
      return f.js.publish(deadLetterSubject(f.subjectPrefix, bulk), new Uint8Array([i % 256]), { headers: h });
    });
    await Promise.all(acks);
    const byType = await store.list({ consumer: bulk, eventType: "orders.v1.OrderUpdated" }, 1000);
    expect(byType.deadLetters).toHaveLength(502);
    const first = await store.discard({ matching: { consumer: bulk } });
    expect(first.done).toHaveLength(maxDeadLettersPerCall);
    expect(first.remaining).toBe(5);
    const second = await store.discard({ matching: { consumer: bulk } });
    expect(second).toMatchObject({ remaining: 0 });
    expect(second.done).toHaveLength(5);
  }, 60_000);
});
