import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { nanos } from "@nats-io/transport-node";
import { createJetStreamFixture, type JetStreamFixture } from "../../../tests/support/jetstream-fixture.js";
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
    await ensureEventStreams(f.jsm, { stream: f.stream, subjectPrefix: f.subjectPrefix });
    const { stream, deadLetter } = await ensureEventStreams(f.jsm, { stream: f.stream, subjectPrefix: f.subjectPrefix, duplicateWindowMs: 90_000 });
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
