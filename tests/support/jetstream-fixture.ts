import { jetstreamManager, type JetStreamClient, type JetStreamManager, type StoredMsg } from "@nats-io/jetstream";
import { createLogger, type Logger } from "../../services/platform/process/index.js";
import { connectNats, type NatsConnection } from "../../services/platform/events/index.js";
import { deadLetterStreamName, ensureEventStreams, type EventStreamLimits } from "../../services/platform/events/index.js";
import { uniqueName } from "./test-database.js";

/** The machine's shared NATS; tests only create and delete their own streams on it. */
export const TEST_NATS_URL = process.env.TEST_NATS_URL ?? "nats://127.0.0.1:4222";

/**
 * Limits of every test stream. JetStream reserves a stream's max_bytes on the server's storage when
 * it is declared, and tests declare many streams on the one shared server: the production default
 * (1 GiB each) would soon refuse new streams. vitest.config.ts sets the same sizes for the processes
 * tests spawn (EVENTS_MAX_BYTES, DEADLETTER_MAX_BYTES).
 */
export const testStreamLimits: EventStreamLimits = {
  events: { maxAgeMs: 60 * 60_000, maxBytes: 8 * 2 ** 20 },
  deadLetters: { maxAgeMs: 60 * 60_000, maxBytes: 8 * 2 ** 20 },
};

/** A connection plus a uniquely named event stream (and its dead letter) that the test deletes when done. */
export interface JetStreamFixture {
  nc: NatsConnection;
  js: JetStreamClient;
  jsm: JetStreamManager;
  logger: Logger;
  stream: string;
  subjectPrefix: string;
  /** Every message currently stored in the dead-letter stream. */
  deadLetters(): Promise<StoredMsg[]>;
  /** Deletes both streams and closes the connection. */
  close(): Promise<void>;
}

/** Connects and declares a fresh stream pair with unique names (NATS names allow no dots, so "_" is used). */
export async function createJetStreamFixture(url = TEST_NATS_URL): Promise<JetStreamFixture> {
  const logger = createLogger("test", process.env.TEST_LOG_LEVEL ?? "silent");
  const nc = await connectNats(url, logger, "ordermesh-test");
  const jsm = await jetstreamManager(nc);
  const stream = uniqueName("TEST").toUpperCase();
  const subjectPrefix = uniqueName("t");
  await ensureEventStreams(jsm, { stream, subjectPrefix, limits: testStreamLimits });
  return {
    nc,
    js: jsm.jetstream(),
    jsm,
    logger,
    stream,
    subjectPrefix,
    async deadLetters() {
      const name = deadLetterStreamName(stream);
      const { state } = await jsm.streams.info(name);
      const out: StoredMsg[] = [];
      for (let seq = state.first_seq; seq <= state.last_seq && state.messages > 0; seq++) {
        const m = await jsm.streams.getMessage(name, { seq }).catch(() => null);
        if (m) out.push(m);
      }
      return out;
    },
    async close() {
      for (const name of [stream, deadLetterStreamName(stream)]) await jsm.streams.delete(name).catch(() => false);
      await nc.close();
    },
  };
}
