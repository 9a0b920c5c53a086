import { randomUUID } from "node:crypto";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createJetStreamFixture, testStreamLimits, type JetStreamFixture } from "../../../tests/support/jetstream-fixture.js";
import { uniqueName } from "../../../tests/support/test-database.js";
import { waitFor } from "../../../tests/support/wait-for.js";
import { catalogue, encodeEvent, subjectOf, type EventDefinition } from "./catalogue.js";
import { publishEvent } from "./cloudevents.js";
import type { DurableConsumer } from "./consumer-loop.js";
import { startEventConsumer, type EventConsumerOptions, type EventDelivery, type EventKey } from "./event-consumer.js";
import { ensureEventStreams } from "./event-stream.js";
import type { HandleResult } from "./message-settlement.js";

const running: DurableConsumer[] = [];
let f: JetStreamFixture;
beforeEach(async () => {
  f = await createJetStreamFixture();
});
afterEach(async () => {
  await Promise.all(running.splice(0).map((c) => c.stop()));
  await f?.close();
});

/** Publishes an orders event for the order as the relay would; returns its event id. */
async function publishOrderEvent(definition: EventDefinition, orderId: string, note = ""): Promise<string> {
  const eventId = randomUUID();
  const encoded = encodeEvent(definition as typeof catalogue.orderCreated, { eventId, order: { id: orderId, customerEmail: note } });
  await publishEvent(f.js, { subject: subjectOf(definition, f.subjectPrefix), eventId, type: encoded.type, source: "/test", time: new Date(), payload: encoded.payload });
  return eventId;
}

async function start<K extends EventKey>(options: Omit<EventConsumerOptions<K>, "js" | "jsm" | "logger" | "family" | "subjectPrefix" | "stream" | "durable" | "ackWaitMs" | "maxDeliver"> & Partial<EventConsumerOptions<K>>) {
  const consumer = await startEventConsumer({
    js: f.js,
    jsm: f.jsm,
    logger: f.logger,
    family: "orders",
    subjectPrefix: f.subjectPrefix,
    stream: f.stream,
    durable: uniqueName("ev"),
    ackWaitMs: 5000,
    maxDeliver: 3,
    retryBackoff: { initialMs: 50, maxMs: 200 },
    ...options,
  } as EventConsumerOptions<K>);
  running.push(consumer);
  return consumer;
}

/** Every message delivered so far was acked or terminated. */
async function settled(durable: string) {
  await waitFor(async () => {
    const info = await f.jsm.consumers.info(f.stream, durable);
    return info.num_pending === 0 && info.num_ack_pending === 0;
  }, { what: `${durable} settled` });
}

describe("startEventConsumer", () => {
  it("hands the handler typed events it asked for; acks other events and unknown subjects, dead-letters poison without calling it", async () => {
    const seen: string[] = [];
    const dead: Array<{ decoded: boolean; reason: string }> = [];
    const durable = uniqueName("typed");
    await start({
      durable,
      events: ["orderCreated", "orderCancelled"],
      handle: async ({ event }) => {
        // The union narrows on key: each case sees its own message type.
        if (event.key === "orderCancelled") seen.push(`cancelled:${event.orderId}:${event.event.reason}`);
        else seen.push(`created:${event.orderId}:${event.event.order?.customerEmail}`);
        return { ack: true };
      },
      onDeadLetter: ({ event }, reason) => void dead.push({ decoded: event !== undefined, reason }),
    });
    const orderId = randomUUID();
    await publishOrderEvent(catalogue.orderCreated, orderId, "a@example.com");
    await publishOrderEvent(catalogue.orderUpdated, orderId);
    // Not wanted, so never decoded: acked, not dead-lettered, although it is not an OrderUpdated.
    await f.js.publish(subjectOf(catalogue.orderUpdated, f.subjectPrefix), new Uint8Array([0xff, 0xff]));
    await f.js.publish(`${f.subjectPrefix}.no_such_event`, new Uint8Array([1]));
    await f.js.publish(subjectOf(catalogue.orderCreated, f.subjectPrefix), new Uint8Array([0xff, 0xff]));
    const cancelled = encodeEvent(catalogue.orderCancelled, { eventId: randomUUID(), order: { id: orderId }, reason: "late" });
    await f.js.publish(subjectOf(catalogue.orderCancelled, f.subjectPrefix), cancelled.payload);
    await settled(durable);
    expect(seen).toEqual([`created:${orderId}:a@example.com`, `cancelled:${orderId}:late`]);
    expect(dead).toEqual([{ decoded: false, reason: expect.stringMatching(/^undecodable orders\.v1\.OrderCreated/) }]);
    expect((await f.deadLetters()).map((m) => m.header.get("x-original-subject"))).toEqual([subjectOf(catalogue.orderCreated, f.subjectPrefix)]);
  });

  it("filters on the one event's subject when it wants one", async () => {
    const durable = uniqueName("one");
    await start({ durable, events: ["orderShipped"], handle: async () => ({ ack: true }) });
    expect((await f.jsm.consumers.info(f.stream, durable)).config.filter_subject).toBe(subjectOf(catalogue.orderShipped, f.subjectPrefix));
  });

  it("refuses events of another family", async () => {
    await expect(start({ events: ["shipmentCreated"] as unknown as ["orderCreated"], handle: async () => ({ ack: true }) })).rejects.toThrow(/not an event of family orders/);
  });

  it("hands a batch what it holds, settles each message by its own result and retries only the failed one", async () => {
    const batches: string[][] = [];
    const failOnce = new Set<string>();
    const orders = Array.from({ length: 12 }, () => randomUUID());
    // Published before the consumer exists, so the first pull brings them all at once.
    const ids = new Map<string, string>();
    for (const id of orders) ids.set(await publishOrderEvent(catalogue.orderCreated, id), id);
    const retried = orders[3]!;
    const poisoned = orders[7]!;
    failOnce.add(retried);
    const deliveries = new Map<string, number[]>();
    const durable = uniqueName("batch");
    await start({
      durable,
      events: ["orderCreated"],
      maxBatch: 50,
      handleBatch: async (batch: EventDelivery<"orderCreated">[]): Promise<HandleResult[]> => {
        batches.push(batch.map((d) => d.event.orderId));
        return batch.map(({ event, msg }) => {
          deliveries.set(event.orderId, [...(deliveries.get(event.orderId) ?? []), msg.info.deliveryCount]);
          if (event.orderId === poisoned) return { deadLetter: "no such customer" };
          if (failOnce.delete(event.orderId)) return { retry: "database busy" };
          return { ack: true };
        });
      },
    });
    await settled(durable);
    expect(batches[0]!.length).toBeGreaterThan(1);
    expect(batches.flat().sort()).toEqual([...orders, retried].sort());
    // Only the failed message came back, alone; every other one was handled once.
    expect(deliveries.get(retried)).toEqual([1, 2]);
    expect(batches.at(-1)).toEqual([retried]);
    for (const id of orders.filter((o) => o !== retried)) expect(deliveries.get(id)).toEqual([1]);
    const dead = await f.deadLetters();
    expect(dead.map((m) => m.header.get("x-deadletter-reason"))).toEqual(["no such customer"]);
    expect(ids.get(dead[0]!.header.get("ce-id"))).toBe(poisoned);
  });

  it("keeps one order's events in order across concurrent batches, never two of one order in a batch", async () => {
    const orders = ["a", "b", "c", "d"].map(() => randomUUID());
    const perOrder = 5;
    // Interleaved: a1 b1 c1 d1 a2 b2 ...; the note says which of its order's events it is.
    for (let n = 1; n <= perOrder; n++) for (const id of orders) await publishOrderEvent(catalogue.orderCreated, id, String(n));
    const handled = new Map<string, string[]>();
    const batches: string[][] = [];
    let inFlight = 0;
    let maxInFlight = 0;
    const durable = uniqueName("keyed");
    await start({
      durable,
      events: ["orderCreated"],
      maxBatch: 3,
      concurrency: 3,
      handleBatch: async (batch: EventDelivery<"orderCreated">[]) => {
        inFlight++;
        maxInFlight = Math.max(maxInFlight, inFlight);
        batches.push(batch.map((d) => d.event.orderId));
        // Long enough that batches overlap when the scheduler lets them.
        await new Promise((r) => setTimeout(r, 20));
        for (const { event } of batch) handled.set(event.orderId, [...(handled.get(event.orderId) ?? []), event.event.order!.customerEmail]);
        inFlight--;
        return batch.map(() => ({ ack: true }));
      },
    });
    await waitFor(() => [...handled.values()].flat().length === orders.length * perOrder, { what: "all events handled" });
    for (const id of orders) expect(handled.get(id)).toEqual(["1", "2", "3", "4", "5"]);
    for (const batch of batches) {
      expect(batch.length).toBeLessThanOrEqual(3);
      expect(new Set(batch).size).toBe(batch.length);
    }
    expect(maxInFlight).toBeGreaterThan(1);
  });

  it("retries without end when max deliver is -1", async () => {
    const deliveries: number[] = [];
    const durable = uniqueName("forever");
    await start({
      durable,
      events: ["orderCancellationRequested"],
      maxDeliver: -1,
      retryBackoff: { initialMs: 10, maxMs: 20 },
      handle: async ({ msg }) => {
        deliveries.push(msg.info.deliveryCount);
        return msg.info.deliveryCount < 6 ? { retry: "shipping unavailable" } : { ack: true };
      },
    });
    await publishOrderEvent(catalogue.orderCancellationRequested, randomUUID());
    await waitFor(() => deliveries.length === 6, { what: "six deliveries" });
    await settled(durable);
    expect(deliveries).toEqual([1, 2, 3, 4, 5, 6]);
    expect(await f.deadLetters()).toEqual([]);
  });

  it("keeps a message whose dead letter cannot be stored (full dead-letter stream) and dead-letters it once there is room", async () => {
    const full = { maxAgeMs: 3_600_000, maxBytes: 1024 };
    await ensureEventStreams(f.jsm, { stream: f.stream, subjectPrefix: f.subjectPrefix, limits: { events: testStreamLimits.events, deadLetters: full } });
    // Fill the dead-letter stream to its limit.
    await f.js.publish(`deadletter.${f.subjectPrefix}.filler`, new Uint8Array(900));
    const attempts: number[] = [];
    const durable = uniqueName("fulldl");
    await start({
      durable,
      events: ["orderCreated"],
      maxDeliver: 100,
      handle: async ({ msg }) => {
        attempts.push(msg.info.deliveryCount);
        return { deadLetter: "never processable" };
      },
    });
    const orderId = randomUUID();
    await publishOrderEvent(catalogue.orderCreated, orderId);
    // The dead-letter publish is refused, so the message is nak'ed and comes back instead of being terminated.
    await waitFor(() => attempts.length >= 2, { what: "redelivery after a refused dead letter" });
    expect((await f.deadLetters()).length).toBe(1);
    await ensureEventStreams(f.jsm, { stream: f.stream, subjectPrefix: f.subjectPrefix, limits: testStreamLimits });
    await waitFor(async () => (await f.deadLetters()).some((m) => m.header.get("x-deadletter-reason") === "never processable"), { what: "dead letter stored" });
    await settled(durable);
  });
});
