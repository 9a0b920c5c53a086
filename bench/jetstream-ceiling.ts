/**
 * Broker ceiling: raw acked JetStream publishes with a Nats-Msg-Id each, pipelined in batches the size
 * of the outbox relay's (all of a batch in flight, then await every PubAck), to a fresh stream with the
 * same duplicate window, with CloudEvents-sized headers and an OrderCreated-sized payload.
 */
import { randomBytes, randomUUID } from "node:crypto";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import { catalogue, cloudEventHeaders, ensureEventStreams, eventFamilies, subjectOf, typeOf } from "../services/platform/events/index.js";
import { deleteStreams } from "./mesh.js";

/** What the broker ceiling measured. */
export interface JetStreamCeiling {
  /** Acked publishes per second. */
  publishesPerSec: number;
  published: number;
  inFlight: number;
}

/** Publishes for `durationMs` with `inFlight` publishes outstanding per batch; the stream is deleted after. */
export async function runJetStreamCeiling(natsUrl: string, durationMs: number, inFlight = 200): Promise<JetStreamCeiling> {
  const run = `${Date.now().toString(36)}${randomBytes(3).toString("hex")}`;
  const stream = `BENCHCEIL_${run.toUpperCase()}`;
  const prefix = `benchceil_${run}`;
  const nc = await connect({ servers: natsUrl });
  try {
    const jsm = await jetstreamManager(nc);
    await ensureEventStreams(jsm, { stream, subjectPrefix: prefix });
    const js = jetstream(nc);
    const payload = randomBytes(330);
    const publishOne = () => {
      const eventId = randomUUID();
      return js.publish(subjectOf(catalogue.orderCreated, prefix), payload, {
        msgID: eventId,
        headers: cloudEventHeaders({ eventId, type: typeOf(catalogue.orderCreated), source: eventFamilies.orders.source, time: new Date() }),
      });
    };
    // Warm the connection and the stream's first block before timing.
    await Promise.all(Array.from({ length: inFlight }, publishOne));
    let published = 0;
    const started = performance.now();
    while (performance.now() - started < durationMs) {
      await Promise.all(Array.from({ length: inFlight }, publishOne));
      published += inFlight;
    }
    const elapsed = performance.now() - started;
    return { publishesPerSec: (published * 1000) / elapsed, published, inFlight };
  } finally {
    await nc.close();
    await deleteStreams(natsUrl, [stream, `${stream}_DEADLETTER`]);
  }
}
