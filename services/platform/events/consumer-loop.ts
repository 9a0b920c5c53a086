import { setTimeout as sleep } from "node:timers/promises";
import type { ConsumerMessages, JetStreamClient, JetStreamManager, JsMsg } from "@nats-io/jetstream";
import { untilJetStreamAnswers } from "./jetstream-retry.js";
import { exponentialBackoff } from "../process/backoff.js";
import type { Logger } from "../process/logger.js";
import { declareDurableConsumer, type ConsumerDeclaration } from "./consumer-declaration.js";
import { KeyedScheduler } from "./keyed-scheduler.js";
import { messageSettlement, type HandleResult } from "./message-settlement.js";
import { consumerGauges } from "../metrics/event-metrics.js";

/** A running consumer. */
export interface DurableConsumer {
  /** Whether a consume loop is currently attached to the consumer (for health checks). */
  isAlive(): boolean;
  /** How often the consume loop was recreated since start. */
  readonly restarts: number;
  /** Stops pulling, lets the messages in hand finish, and hands buffered ones back at once. */
  stop(): Promise<void>;
}

/** What the loop made of a message before any handler ran: work for the handler, or a result at once. */
export type Prepared<T> = { item: T; key: string | undefined } | { settle: HandleResult };

/** Everything the consume loop needs; startDurableConsumer and startEventConsumer fill it in. */
export interface ConsumerLoopOptions<T> extends ConsumerDeclaration {
  js: JetStreamClient;
  jsm: JetStreamManager;
  /** Subject of the dead-letter stream (see deadLetterSubject in event-stream.ts). */
  deadLetterSubject: string;
  logger: Logger;
  /** Re-declares what the consumer depends on (its stream) before every (re)start, if this process owns it. */
  declareStream?(): Promise<unknown>;
  /** Batches handled at the same time by this replica. */
  concurrency: number;
  /** Messages per batch at most (1: one message per handler call). */
  maxBatch: number;
  /** Messages pulled per request and held at most; default max(10, concurrency * maxBatch). */
  pullBatch?: number;
  /** Delay of a retry for a delivery count. */
  retryBackoff(attempt: number): number;
  /** Turns each message into the handler's item once (e.g. decodes it), with its ordering key. */
  prepare(msg: JsMsg): Prepared<T>;
  /** Handles a batch; returns one result per item, in order. A throw retries the whole batch. */
  handle(items: T[]): Promise<HandleResult[]>;
  onDeadLetter?(msg: JsMsg, item: T | undefined, reason: string): Promise<void> | void;
}

interface Held<T> {
  msg: JsMsg;
  item: T;
  key: string | undefined;
  /** When the loop took the message (performance.now()). */
  takenAt: number;
}

// Re-attaching after the iterator ended: quick at first (a NATS restart), slower while it keeps failing.
const reattachBackoff = exponentialBackoff({ initialMs: 250, maxMs: 5000 });

/**
 * Runs a durable pull consumer that outlives NATS restarts and a deleted consumer: whenever the
 * consume() iterator ends, or reports the consumer or stream missing, the consumer is re-declared and
 * a fresh iterator started. Messages are read only while fewer than pullBatch wait for the handler,
 * so nats.js, which sends its next pull when the iterator is read, never holds more than that.
 */
export async function startConsumerLoop<T>(options: ConsumerLoopOptions<T>): Promise<DurableConsumer> {
  const log = options.logger.child({ consumer: options.durable, stream: options.stream });
  // The first declaration runs before we return, so a bad configuration fails the process start; a
  // JetStream away for a moment (a node restarting, a cluster electing leaders) is waited for.
  if (options.declareStream) await untilJetStreamAnswers(`declaring the stream of ${options.durable}`, options.declareStream, options.logger);
  await untilJetStreamAnswers(`declaring consumer ${options.durable}`, () => declareDurableConsumer(options.jsm, options), options.logger);

  const concurrency = Math.max(1, options.concurrency);
  const maxBatch = Math.max(1, options.maxBatch);
  const pullBatch = options.pullBatch ?? Math.max(10, concurrency * maxBatch);
  const settle = messageSettlement<T>({ ...options, logger: log });
  const restartAckWaitAfterMs = options.ackWaitMs / 10;

  let stopping = false;
  let messages: ConsumerMessages | undefined;
  let restarts = 0;
  const wakeUp = new AbortController();
  // Resolved after the first attach attempt, so a caller's first health check already sees it.
  let firstAttempt!: () => void;
  const firstAttempted = new Promise<void>((resolve) => (firstAttempt = resolve));

  const runBatch = async (batch: Held<T>[]): Promise<void> => {
    // A message that waited in the buffer for a good part of its AckWait gets it restarted now that work
    // begins. The others skip it: one more NATS message each, for the handful of milliseconds most waited.
    const startedAt = performance.now();
    for (const held of batch) if (startedAt - held.takenAt > restartAckWaitAfterMs) held.msg.working();
    let results: HandleResult[];
    try {
      results = await options.handle(batch.map((held) => held.item));
      if (results.length !== batch.length) throw new Error(`handler returned ${results.length} results for ${batch.length} messages`);
    } catch (err) {
      const reason = err instanceof Error ? err.message : String(err);
      results = batch.map(() => ({ retry: reason }));
    }
    // Settled together: the acks of a batch leave in one write.
    await Promise.all(
      batch.map((held, i) =>
        settle(held.msg, held.item, results[i]!).catch((err: unknown) => log.error({ err, subject: held.msg.subject, seq: held.msg.info.streamSequence }, "settling a message failed")),
      ),
    );
  };
  const scheduler = new KeyedScheduler<Held<T>>({ concurrency, maxBatch, keyOf: (held) => held.key, run: runBatch });

  const take = async (msg: JsMsg): Promise<void> => {
    let prepared: Prepared<T>;
    try {
      prepared = options.prepare(msg);
    } catch (err) {
      prepared = { settle: { retry: `preparing the message failed: ${err instanceof Error ? err.message : String(err)}` } };
    }
    if ("settle" in prepared) {
      await settle(msg, undefined, prepared.settle);
      return;
    }
    scheduler.push({ msg, item: prepared.item, key: prepared.key, takenAt: performance.now() });
    await scheduler.waitForRoom(pullBatch);
  };

  const superviseNotifications = async (iter: ConsumerMessages) => {
    for await (const note of iter.status()) {
      // nats.js v3 keeps pulling forever at a consumer that is gone; only a new declaration helps.
      if (note.type === "consumer_deleted" || note.type === "consumer_not_found" || note.type === "stream_not_found") {
        log.warn({ notification: note.type }, "consumer or stream missing; recreating");
        iter.stop();
        return;
      }
      if (note.type === "heartbeats_missed") log.warn({ count: note.count }, "consumer heartbeats missed");
    }
  };

  const loop = async () => {
    let failures = 0;
    while (!stopping) {
      try {
        if (restarts > 0) {
          await options.declareStream?.();
          await declareDurableConsumer(options.jsm, options);
        }
        const consumer = await options.js.consumers.get(options.stream, options.durable);
        const iter = await consumer.consume({ max_messages: pullBatch });
        messages = iter;
        firstAttempt();
        if (stopping) iter.stop();
        void superviseNotifications(iter);
        log.info({ restarts }, "consuming");
        for await (const msg of iter) {
          failures = 0;
          // Pulled but not started: hand it back now instead of letting it sit until AckWait.
          if (stopping) msg.nak();
          else await take(msg);
        }
        const err = await iter.closed();
        if (!stopping) log.warn({ err }, "consume loop ended; recreating");
      } catch (err) {
        if (!stopping) log.warn({ err }, "consumer attach failed; retrying");
        firstAttempt();
      } finally {
        messages = undefined;
        await scheduler.idle();
      }
      if (stopping) break;
      restarts++;
      failures++;
      // Resolves early (not rejects) when stop() aborts the wait.
      await sleep(reattachBackoff(failures), undefined, { signal: wakeUp.signal }).catch(() => undefined);
    }
  };

  const running = loop();
  await firstAttempted;
  // Lag as JetStream counts it, asked on scrape (cached briefly): every replica reports the same durable.
  const unreport = consumerGauges.add({ stream: options.stream, consumer: options.durable }, async () => {
    const info = await options.jsm.consumers.info(options.stream, options.durable);
    return { pending: info.num_pending, ackPending: info.num_ack_pending, redelivered: info.num_redelivered };
  });
  return {
    isAlive: () => !stopping && messages !== undefined,
    get restarts() {
      return restarts;
    },
    async stop() {
      stopping = true;
      unreport();
      wakeUp.abort();
      for (const held of scheduler.drainQueue()) held.msg.nak();
      messages?.stop();
      await running;
      await scheduler.idle();
    },
  };
}
