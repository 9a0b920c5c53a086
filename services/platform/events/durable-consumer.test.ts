import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { JsMsg } from "@nats-io/jetstream";
import { waitFor } from "../../../tests/support/wait-for.js";
import { createJetStreamFixture, type JetStreamFixture } from "../../../tests/support/jetstream-fixture.js";
import { startPrivateNatsServer } from "../../../tests/support/nats-server.js";
import { uniqueName } from "../../../tests/support/test-database.js";
import { publishEvent, readCloudEvent } from "./cloudevents.js";
import { startDurableConsumer, type DurableConsumer, type DurableConsumerOptions, type HandleResult } from "./durable-consumer.js";
import { deadLetterSubject } from "./event-stream.js";
import { isNatsConnected } from "./nats-connection.js";

const running: DurableConsumer[] = [];
const stopRunning = () => Promise.all(running.splice(0).map((c) => c.stop()));

function publish(fx: JetStreamFixture, kind: string, body: string, eventId: string = crypto.randomUUID()) {
  return publishEvent(fx.js, {
    subject: `${fx.subjectPrefix}.${kind}`,
    eventId,
    type: "test.v1.Event",
    source: "/test",
    time: new Date(),
    payload: new TextEncoder().encode(body),
  });
}

async function start(fx: JetStreamFixture, handle: (msg: JsMsg) => Promise<HandleResult>, extra: Partial<DurableConsumerOptions> = {}) {
  const consumer = await startDurableConsumer({
    js: fx.js,
    jsm: fx.jsm,
    stream: fx.stream,
    durable: uniqueName("c"),
    filterSubject: `${fx.subjectPrefix}.>`,
    ackWaitMs: 5000,
    maxDeliver: 3,
    deadLetterSubject: deadLetterSubject(fx.subjectPrefix, "test"),
    logger: fx.logger,
    retryBackoffMs: { initial: 50, max: 200 },
    handle,
    ...extra,
  });
  running.push(consumer);
  return consumer;
}

const text = (msg: JsMsg) => new TextDecoder().decode(msg.data);

describe("startDurableConsumer", () => {
  // Each test gets its own stream, subjects and dead letter, so none sees another's messages.
  let f: JetStreamFixture;
  beforeEach(async () => {
    f = await createJetStreamFixture();
  });
  afterEach(async () => {
    await stopRunning();
    await f?.close();
  });

  it("delivers every message, retries a nak'ed one and acks it later", async () => {
    const handled: string[] = [];
    let refusedOnce = false;
    await start(f, async (msg) => {
      if (text(msg) === "b" && !refusedOnce) {
        refusedOnce = true;
        return { retryInMs: 100, reason: "not yet" };
      }
      handled.push(`${text(msg)}@${msg.info.deliveryCount}`);
      return { ack: true };
    });
    for (const body of ["a", "b", "c"]) await publish(f, "happy", body);
    await waitFor(() => handled.length === 3, { what: "three handled" });
    expect(handled.sort()).toEqual(["a@1", "b@2", "c@1"]);
  });

  it("restarts the AckWait of a message that waited in the buffer, so a slow predecessor does not get it redelivered", async () => {
    const deliveries: string[] = [];
    const durable = uniqueName("c");
    let releaseFirst!: () => void;
    const firstHeld = new Promise<void>((resolve) => (releaseFirst = resolve));
    // One at a time: "second" waits in the buffer while "first" runs; each takes most of the 2 s AckWait.
    await start(f, async (msg) => {
      deliveries.push(`${text(msg)}@${msg.info.deliveryCount}`);
      if (text(msg) === "first") await firstHeld;
      else await new Promise((r) => setTimeout(r, 1500));
      return { ack: true };
    }, { durable, ackWaitMs: 2000, maxDeliver: 5 });
    await publish(f, "slow", "first");
    await publish(f, "slow", "second");
    await waitFor(() => deliveries.length === 1, { what: "first delivered" });
    // "second" has been pulled meanwhile and waits; hold "first" past a third of the AckWait.
    await new Promise((r) => setTimeout(r, 1200));
    releaseFirst();
    await waitFor(() => deliveries.includes("second@1"), { what: "second handled" });
    // 1.2 s of waiting plus 1.5 s of work: past AckWait from its delivery, not from when work began.
    await waitFor(async () => {
      const info = await f.jsm.consumers.info(f.stream, durable);
      return info.num_pending === 0 && info.num_ack_pending === 0;
    }, { what: "both acked" });
    expect(deliveries).toEqual(["first@1", "second@1"]);
  });

  it("handles messages concurrently up to its limit, one key's messages strictly in stream order", async () => {
    const done: string[] = [];
    let inFlight = 0;
    let maxInFlight = 0;
    let openGate!: () => void;
    // Nothing finishes until three messages are being handled at once: only concurrency gets there.
    const gate = new Promise<void>((resolve) => (openGate = resolve));
    await start(
      f,
      async (msg) => {
        inFlight++;
        maxInFlight = Math.max(maxInFlight, inFlight);
        if (inFlight >= 3) openGate();
        await gate;
        done.push(text(msg));
        inFlight--;
        return { ack: true };
      },
      { concurrency: 4, orderingKey: (msg) => text(msg).split(":")[0] },
    );
    // Interleaved (a:1 b:1 c:1 a:2 ...): a message waiting for its key's predecessor holds a worker slot.
    const bodies = [1, 2, 3, 4].flatMap((n) => ["a", "b", "c"].map((key) => `${key}:${n}`));
    for (const body of bodies) await publish(f, "keyed", body);
    await waitFor(() => done.length === bodies.length, { what: "all keyed messages handled" });
    // Three keys: at most three at once, with four workers.
    expect(maxInFlight).toBe(3);
    for (const key of ["a", "b", "c"]) expect(done.filter((b) => b.startsWith(`${key}:`))).toEqual([1, 2, 3, 4].map((n) => `${key}:${n}`));
  });

  it("sends a poison message straight to the dead letter with its headers and keeps going", async () => {
    const handled: string[] = [];
    const hooked: string[] = [];
    await start(
      f,
      async (msg) => {
        if (text(msg) === "poison") return { deadLetter: "payload is not an OrderCreated" };
        handled.push(text(msg));
        return { ack: true };
      },
      { onDeadLetter: (msg, reason) => void hooked.push(`${text(msg)}: ${reason}`) },
    );
    const poisonId = crypto.randomUUID();
    await publish(f, "poison", "poison", poisonId);
    await publish(f, "poison", "after");
    await waitFor(() => handled.includes("after") && hooked.length === 1, { what: "message after the poison handled" });
    expect(hooked).toEqual(["poison: payload is not an OrderCreated"]);
    const deadLetters = await f.deadLetters();
    expect(deadLetters).toHaveLength(1);
    const dead = deadLetters[0];
    expect(dead!.header.get("ce-id")).toBe(poisonId);
    expect(new TextDecoder().decode(dead!.data)).toBe("poison");
    expect(dead!.header.get("x-deadletter-reason")).toBe("payload is not an OrderCreated");
    expect(dead!.header.get("x-original-subject")).toBe(`${f.subjectPrefix}.poison`);
    expect(readCloudEvent({ headers: dead!.header, data: dead!.data }).type).toBe("test.v1.Event");
  });

  it("dead-letters a message that fails on every one of max_deliver deliveries", async () => {
    const deliveries: number[] = [];
    const eventId = crypto.randomUUID();
    const hooked: string[] = [];
    await start(
      f,
      async (msg) => {
        deliveries.push(msg.info.deliveryCount);
        throw new Error("upstream down");
      },
      { maxDeliver: 3, onDeadLetter: (_msg, reason) => void hooked.push(reason) },
    );
    await publish(f, "exhaust", "doomed", eventId);
    await waitFor(() => hooked.length === 1, { what: "dead-letter hook" });
    expect(deliveries).toEqual([1, 2, 3]);
    expect(hooked[0]).toMatch(/gave up after 3 deliveries: upstream down/);
    const dead = await f.deadLetters();
    expect(dead).toHaveLength(1);
    expect(dead[0]!.header.get("ce-id")).toBe(eventId);
    expect(dead[0]!.header.get("x-delivery-count")).toBe("3");
  });

  it("recreates a consumer that was deleted under it and keeps delivering", async () => {
    const handled = new Set<string>();
    const durable = uniqueName("deleted");
    const consumer = await start(f, async (msg) => {
      handled.add(text(msg));
      return { ack: true };
    }, { durable, filterSubject: `${f.subjectPrefix}.deleted` });
    await publish(f, "deleted", "before");
    await waitFor(() => handled.has("before"), { what: "first message" });
    await f.jsm.consumers.delete(f.stream, durable);
    await publish(f, "deleted", "after");
    await waitFor(() => handled.has("after"), { what: "message after the consumer was deleted", timeoutMs: 20_000 });
    expect(consumer.restarts).toBeGreaterThanOrEqual(1);
    expect((await f.jsm.consumers.info(f.stream, durable)).config.durable_name).toBe(durable);
  });

  it("stop() lets the message in hand finish and hands buffered ones back at once", async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const started: string[] = [];
    const finished: string[] = [];
    const durable = uniqueName("stopping");
    // AckWait far beyond the test: "two" can only come back this fast if stop() nak'ed it.
    const options = { durable, filterSubject: `${f.subjectPrefix}.stopping`, ackWaitMs: 60_000 };
    const consumer = await start(f, async (msg) => {
      started.push(text(msg));
      await gate;
      finished.push(text(msg));
      return { ack: true };
    }, options);
    await publish(f, "stopping", "one");
    await publish(f, "stopping", "two");
    await waitFor(() => started.length === 1, { what: "handler started" });
    // Both delivered to this client ("one" in the handler, "two" in the pull buffer); a message still on
    // its way when the subscription closes would only come back after AckWait, which is not what this tests.
    await waitFor(async () => (await f.jsm.consumers.info(f.stream, durable)).num_ack_pending === 2, { what: "both messages delivered" });
    const stopped = consumer.stop();
    release();
    await stopped;
    expect(consumer.isAlive()).toBe(false);
    expect(finished).toEqual(["one"]);

    const next: string[] = [];
    await start(f, async (msg) => {
      next.push(text(msg));
      return { ack: true };
    }, options);
    await waitFor(() => next.includes("two"), { what: "handed-back message", timeoutMs: 10_000 });
    expect(next).toEqual(["two"]);
  });
});

describe("startDurableConsumer across a NATS server restart", () => {
  it("keeps delivering after the server is killed and started again", async () => {
    const server = await startPrivateNatsServer();
    try {
      const fx = await createJetStreamFixture(server.url);
      try {
        const handled = new Set<string>();
        const durable = uniqueName("restart");
        const consumer = await start(fx, async (msg) => {
          handled.add(text(msg));
          return { ack: true };
        }, { durable });
        for (let i = 0; i < 5; i++) await publish(fx, "restart", `before-${i}`);
        await waitFor(() => handled.size === 5, { what: "messages before the restart" });

        await server.restart({ crash: true, downMs: 1500 });
        await waitFor(() => isNatsConnected(fx.nc), { what: "reconnect", timeoutMs: 20_000 });
        for (let i = 0; i < 5; i++) await publish(fx, "restart", `after-${i}`);
        await waitFor(() => handled.size === 10, { what: "messages after the restart", timeoutMs: 25_000 });
        expect([...handled].filter((b) => b.startsWith("after-")).sort()).toEqual(["after-0", "after-1", "after-2", "after-3", "after-4"]);
        expect(consumer.isAlive()).toBe(true);
        // Acks sent after the restart reach the server: nothing is left pending for redelivery.
        const info = await waitFor(async () => {
          const i = await fx.jsm.consumers.info(fx.stream, durable);
          return i.num_ack_pending === 0 && i.num_pending === 0 ? i : undefined;
        }, { what: "all acked" });
        expect(info.delivered.stream_seq).toBe(10);
      } finally {
        await stopRunning();
        await fx.close();
      }
    } finally {
      await server.stop();
    }
  }, 60_000);
});
