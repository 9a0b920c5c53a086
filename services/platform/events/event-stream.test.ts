import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DiscardPolicy } from "@nats-io/jetstream";
import { nanos } from "@nats-io/transport-node";
import { createJetStreamFixture, testStreamLimits, type JetStreamFixture } from "../../../tests/support/jetstream-fixture.js";
import { uniqueName } from "../../../tests/support/test-database.js";
import { publishEvent, readCloudEvent } from "./cloudevents.js";
import { deadLetterStreamName, deadLetterSubject, ensureEventStreams } from "./event-stream.js";

let f: JetStreamFixture;
beforeAll(async () => {
  f = await createJetStreamFixture();
});
afterAll(async () => {
  await f?.close();
});

describe("ensureEventStreams", () => {
  it("declares the stream and a non-overlapping dead-letter stream, idempotently", async () => {
    // Second and third declaration: same config, then a changed duplicate window (an update).
    await ensureEventStreams(f.jsm, { stream: f.stream, subjectPrefix: f.subjectPrefix, limits: testStreamLimits });
    const { stream, deadLetter } = await ensureEventStreams(f.jsm, { stream: f.stream, subjectPrefix: f.subjectPrefix, duplicateWindowMs: 90_000, limits: testStreamLimits });
    expect(stream.config.subjects).toEqual([`${f.subjectPrefix}.>`]);
    expect(stream.config.storage).toBe("file");
    expect(stream.config.duplicate_window).toBe(nanos(90_000));
    expect(deadLetter.config.name).toBe(deadLetterStreamName(f.stream));
    expect(deadLetter.config.subjects).toEqual([`deadletter.${f.subjectPrefix}.>`]);
    expect(deadLetterSubject(f.subjectPrefix, "notifier").startsWith(`${f.subjectPrefix}.`)).toBe(false);
    // A dead-lettered message lands in the dead-letter stream only.
    const ack = await f.js.publish(deadLetterSubject(f.subjectPrefix, "x"), new Uint8Array([1]));
    expect(ack.stream).toBe(deadLetterStreamName(f.stream));
  });
});

describe("ensureEventStreams retention", () => {
  const mib = 2 ** 20;
  /** A stream pair of its own (deleted after), so its limits can be changed freely. */
  async function ownStreams<T>(use: (names: { stream: string; subjectPrefix: string }) => Promise<T>): Promise<T> {
    const names = { stream: uniqueName("RETAIN").toUpperCase(), subjectPrefix: uniqueName("r") };
    try {
      return await use(names);
    } finally {
      for (const name of [names.stream, deadLetterStreamName(names.stream)]) await f.jsm.streams.delete(name).catch(() => false);
    }
  }

  it("gives both streams max age, max bytes and DiscardNew, and updates them on the next declaration", async () => {
    await ownStreams(async (names) => {
      const first = await ensureEventStreams(f.jsm, {
        ...names,
        limits: { events: { maxAgeMs: 3_600_000, maxBytes: 2 * mib }, deadLetters: { maxAgeMs: 7_200_000, maxBytes: mib } },
      });
      expect(first.stream.config).toMatchObject({ max_age: nanos(3_600_000), max_bytes: 2 * mib, discard: DiscardPolicy.New });
      expect(first.deadLetter.config).toMatchObject({ max_age: nanos(7_200_000), max_bytes: mib, discard: DiscardPolicy.New });
      // A restart with other limits (here: no age limit on events) changes the existing streams in place.
      await f.js.publish(`${names.subjectPrefix}.kept`, new Uint8Array([1]));
      const second = await ensureEventStreams(f.jsm, {
        ...names,
        limits: { events: { maxAgeMs: undefined, maxBytes: 4 * mib }, deadLetters: { maxAgeMs: 60_000, maxBytes: 3 * mib } },
      });
      expect(second.stream.config).toMatchObject({ max_age: 0, max_bytes: 4 * mib, discard: DiscardPolicy.New });
      // The duplicate window (2 minutes) shrinks to a max age below it, which JetStream demands.
      expect(second.deadLetter.config).toMatchObject({ max_age: nanos(60_000), max_bytes: 3 * mib, duplicate_window: nanos(60_000) });
      expect(second.stream.config.duplicate_window).toBe(nanos(120_000));
      expect((await f.jsm.streams.info(names.stream)).state.messages).toBe(1);
    });
  });

  it("refuses publishes to a full stream and keeps what it holds", async () => {
    await ownStreams(async (names) => {
      const tiny = { maxAgeMs: 3_600_000, maxBytes: 4096 };
      await ensureEventStreams(f.jsm, { ...names, limits: { events: tiny, deadLetters: tiny } });
      const payload = new Uint8Array(1000);
      const outcomes: Array<"stored" | "refused"> = [];
      for (let i = 0; i < 8; i++) {
        outcomes.push(await f.js.publish(`${names.subjectPrefix}.fill`, payload).then(() => "stored" as const, () => "refused" as const));
      }
      const stored = outcomes.filter((o) => o === "stored").length;
      expect(stored).toBeGreaterThanOrEqual(2);
      expect(outcomes.slice(stored)).toEqual(Array(8 - stored).fill("refused"));
      // DiscardOld would have made room by deleting message 1; DiscardNew kept every stored message.
      const { state } = await f.jsm.streams.info(names.stream);
      expect(state.first_seq).toBe(1);
      expect(state.messages).toBe(stored);
      await expect(f.js.publish(deadLetterSubject(names.subjectPrefix, "x"), new Uint8Array(5000))).rejects.toThrow();
    });
  });
});

describe("publishEvent", () => {
  it("sets CloudEvents binary-mode headers and de-duplicates by event id", async () => {
    const event = {
      subject: `${f.subjectPrefix}.created`,
      eventId: crypto.randomUUID(),
      type: "orders.v1.OrderCreated",
      source: "/ordermesh/orders",
      time: new Date("2026-01-02T03:04:05.678Z"),
      payload: new Uint8Array([8, 1, 2, 3]),
      traceparent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
    };
    const first = await publishEvent(f.js, event);
    const second = await publishEvent(f.js, event);
    expect(first.duplicate).toBe(false);
    expect(second.duplicate).toBe(true);
    expect(second.seq).toBe(first.seq);

    const stored = await f.jsm.streams.getMessage(f.stream, { seq: first.seq });
    expect(stored?.header.get("ce-specversion")).toBe("1.0");
    expect(stored?.header.get("content-type")).toBe("application/protobuf");
    expect(stored?.header.get("Nats-Msg-Id")).toBe(event.eventId);
    const read = readCloudEvent({ headers: stored!.header, data: stored!.data });
    expect(read).toEqual({
      id: event.eventId,
      type: "orders.v1.OrderCreated",
      source: "/ordermesh/orders",
      time: event.time,
      traceparent: event.traceparent,
      data: event.payload,
    });
  });
});
