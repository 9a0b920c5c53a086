import {
  AckPolicy,
  DeliverPolicy,
  type ConsumerMessages,
  type JetStreamClient,
  type JetStreamManager,
  type JsMsg,
} from "@nats-io/jetstream";
import { headers, nanos } from "@nats-io/transport-node";
import type { Logger } from "../process/logger.js";

/** What the handler decided about one message. */
export type HandleResult =
  /** Done: ack it. */
  | { ack: true }
  /** Not now: nak with this delay so JetStream redelivers later (dead-lettered on the last delivery). */
  | { retryInMs: number; reason: string }
  /** Never processable (e.g. undecodable payload): straight to the dead letter. */
  | { deadLetter: string };

/** Everything a durable pull consumer needs. */
export interface DurableConsumerOptions {
  js: JetStreamClient;
  jsm: JetStreamManager;
  stream: string;
  /** Durable name; replicas sharing it share the work. */
  durable: string;
  /** One subject filter (NATS 2.9 has no multi-filter consumers). */
  filterSubject: string;
  /** How long JetStream waits for an ack before redelivering; must exceed the handler's own deadline. */
  ackWaitMs: number;
  /** Deliveries in total, the first included; a failure on the last one dead-letters the message. */
  maxDeliver: number;
  /** Subject of the dead-letter stream (see deadLetterSubject in event-stream.ts). */
  deadLetterSubject: string;
  logger: Logger;
  /** Processes one message; a throw counts as a retry with exponential backoff. */
  handle(msg: JsMsg): Promise<HandleResult>;
  /** Called after a message was dead-lettered and terminated (e.g. to mark the order for an operator). */
  onDeadLetter?(msg: JsMsg, reason: string): Promise<void> | void;
  /** Re-declares what the consumer depends on (its stream) before every (re)start, if this process owns it. */
  declareStream?(): Promise<unknown>;
  /** Messages pulled per request; small, since buffered messages are not being worked on. Default max(10, concurrency). */
  batchSize?: number;
  /**
   * Messages handled at the same time by this replica. Default 1 (strictly one after another). Each
   * handler call waits on I/O (database, RPC, SMTP) for most of its time, so one at a time caps a
   * consumer at 1 / round-trip-time messages per second however idle the machine is.
   */
  concurrency?: number;
  /**
   * Messages with the same key are handled one after another in stream order even when concurrency > 1
   * (e.g. the order id, so one order's events never overtake each other). Undefined: no constraint.
   */
  orderingKey?(msg: JsMsg): string | undefined;
  /** Unacked messages in flight across all replicas. Default 1000. */
  maxAckPending?: number;
  /** Backoff of thrown errors: initial * 2^(delivery-1), capped, jittered. Defaults 1 s and 60 s. */
  retryBackoffMs?: { initial: number; max: number };
}

/** A running consumer. */
export interface DurableConsumer {
  /** Whether a consume loop is currently attached to the consumer (for health checks). */
  isAlive(): boolean;
  /** How often the consume loop was recreated since start. */
  readonly restarts: number;
  /** Stops pulling, lets the messages in hand finish, and hands buffered ones back at once. */
  stop(): Promise<void>;
}

/** Declares the durable pull consumer (create or update) with explicit acks; safe on every start. */
export async function declareDurableConsumer(
  jsm: JetStreamManager,
  options: Pick<DurableConsumerOptions, "stream" | "durable" | "filterSubject" | "ackWaitMs" | "maxDeliver" | "maxAckPending">,
): Promise<void> {
  const changeable = {
    ack_wait: nanos(options.ackWaitMs),
    max_deliver: options.maxDeliver,
    max_ack_pending: options.maxAckPending ?? 1000,
  };
  const existing = await jsm.consumers.info(options.stream, options.durable).catch((err: unknown) => {
    if (err instanceof Error && /consumer not found/i.test(err.message)) return undefined;
    throw err;
  });
  if (existing) {
    const c = existing.config;
    if (c.ack_wait !== changeable.ack_wait || c.max_deliver !== changeable.max_deliver || c.max_ack_pending !== changeable.max_ack_pending) {
      await jsm.consumers.update(options.stream, options.durable, changeable);
    }
    return;
  }
  await jsm.consumers.add(options.stream, {
    durable_name: options.durable,
    ack_policy: AckPolicy.Explicit,
    deliver_policy: DeliverPolicy.All,
    filter_subject: options.filterSubject,
    ...changeable,
  });
}

/**
 * Runs a durable pull consumer that outlives NATS restarts and a deleted consumer: whenever the
 * consume() iterator ends, or reports the consumer or stream missing, the consumer is re-declared
 * and a fresh iterator started. Failures are nak'ed with a delay; on the last delivery they go to
 * the dead-letter subject, and only then is the message terminated.
 */
export async function startDurableConsumer(options: DurableConsumerOptions): Promise<DurableConsumer> {
  const log = options.logger.child({ consumer: options.durable, stream: options.stream });
  // The first declaration runs before we return, so a bad configuration fails the process start.
  await options.declareStream?.();
  await declareDurableConsumer(options.jsm, options);

  let stopping = false;
  let messages: ConsumerMessages | undefined;
  let restarts = 0;
  const wakeUp = new AbortController();
  // Resolved after the first attach attempt, so a caller's first health check already sees it.
  let firstAttempt!: () => void;
  const firstAttempted = new Promise<void>((resolve) => (firstAttempt = resolve));

  const concurrency = Math.max(1, options.concurrency ?? 1);
  const attach = async (): Promise<ConsumerMessages> => {
    const consumer = await options.js.consumers.get(options.stream, options.durable);
    // The pull buffer must hold at least one message per worker, or workers idle between pulls.
    return consumer.consume({ max_messages: options.batchSize ?? Math.max(10, concurrency) });
  };

  // Messages being handled, and per ordering key the last one started (its successor waits for it).
  const inFlight = new Set<Promise<void>>();
  const keyTails = new Map<string, Promise<void>>();
  const startMessage = (msg: JsMsg) => {
    const key = options.orderingKey?.(msg);
    const before = key === undefined ? undefined : keyTails.get(key);
    const run = () => processMessage(msg).catch((err: unknown) => log.error({ err, subject: msg.subject, seq: msg.info.streamSequence }, "message handling failed"));
    const done: Promise<void> = (before ? before.then(run) : run()).finally(() => {
      inFlight.delete(done);
      if (key !== undefined && keyTails.get(key) === done) keyTails.delete(key);
    });
    inFlight.add(done);
    if (key !== undefined) keyTails.set(key, done);
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
        const iter = await attach();
        messages = iter;
        firstAttempt();
        if (stopping) iter.stop();
        void superviseNotifications(iter);
        log.info({ restarts }, "consuming");
        for await (const msg of iter) {
          failures = 0;
          if (stopping) {
            // Pulled but not started: hand it back now instead of letting it sit until AckWait.
            msg.nak();
            continue;
          }
          if (concurrency === 1) {
            await processMessage(msg);
            continue;
          }
          // Pulling further only when a worker is free keeps the rest of the batch handed back on stop().
          while (inFlight.size >= concurrency) await Promise.race(inFlight);
          if (stopping) msg.nak();
          else startMessage(msg);
        }
        await Promise.all(inFlight);
        const err = await iter.closed();
        if (!stopping) log.warn({ err }, "consume loop ended; recreating");
      } catch (err) {
        if (!stopping) log.warn({ err }, "consumer attach failed; retrying");
        firstAttempt();
      } finally {
        messages = undefined;
        await Promise.all(inFlight);
      }
      if (stopping) break;
      restarts++;
      failures++;
      await sleep(Math.min(250 * 2 ** Math.min(failures - 1, 5), 5000), wakeUp.signal);
    }
  };

  const processMessage = async (msg: JsMsg) => {
    // The message may have waited in the pull buffer; restart its AckWait now that work begins.
    msg.working();
    let result: HandleResult;
    try {
      result = await options.handle(msg);
    } catch (err) {
      result = { retryInMs: backoffMs(msg.info.deliveryCount, options.retryBackoffMs), reason: errorText(err) };
    }
    if ("ack" in result) {
      msg.ack();
      return;
    }
    if ("deadLetter" in result) {
      await deadLetter(msg, result.deadLetter);
      return;
    }
    if (msg.info.deliveryCount >= options.maxDeliver) {
      await deadLetter(msg, `gave up after ${msg.info.deliveryCount} deliveries: ${result.reason}`);
      return;
    }
    log.info({ subject: msg.subject, seq: msg.info.streamSequence, delivery: msg.info.deliveryCount, retryInMs: result.retryInMs, reason: result.reason }, "message retried later");
    msg.nak(result.retryInMs);
  };

  const deadLetter = async (msg: JsMsg, reason: string) => {
    const h = headers();
    for (const [key, values] of msg.headers ?? []) values.forEach((v) => h.append(key, v));
    h.set("x-deadletter-reason", reason);
    h.set("x-original-subject", msg.subject);
    h.set("x-original-stream", msg.info.stream);
    h.set("x-delivery-count", String(msg.info.deliveryCount));
    // One id per (consumer, original message): a repeat by this consumer is dropped as a duplicate, while
    // the copy of another consumer that gave up on the same message is kept.
    h.set("Nats-Msg-Id", `${options.durable}:${msg.info.stream}:${msg.info.streamSequence}`);
    try {
      await options.js.publish(options.deadLetterSubject, msg.data, { headers: h });
    } catch (err) {
      // Terminating without a dead-letter copy would lose the message; let JetStream redeliver it.
      log.error({ err, subject: msg.subject, seq: msg.info.streamSequence }, "dead-letter publish failed; nak");
      msg.nak(backoffMs(msg.info.deliveryCount, options.retryBackoffMs));
      return;
    }
    msg.term();
    log.warn({ subject: msg.subject, seq: msg.info.streamSequence, delivery: msg.info.deliveryCount, reason, deadLetterSubject: options.deadLetterSubject }, "message dead-lettered");
    try {
      await options.onDeadLetter?.(msg, reason);
    } catch (err) {
      log.error({ err }, "onDeadLetter hook failed");
    }
  };

  const running = loop();
  await firstAttempted;
  return {
    isAlive: () => !stopping && messages !== undefined,
    get restarts() {
      return restarts;
    },
    async stop() {
      stopping = true;
      wakeUp.abort();
      messages?.stop();
      await running;
    },
  };
}

/** Exponential backoff with jitter for the given delivery (1-based). */
export function backoffMs(delivery: number, tuning = { initial: 1000, max: 60_000 }): number {
  const base = Math.min(tuning.initial * 2 ** Math.max(0, delivery - 1), tuning.max);
  // Full-range jitter in [base/2, base] keeps failed messages of one outage from returning together.
  return Math.round(base / 2 + (Math.random() * base) / 2);
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const timer = setTimeout(resolve, ms);
    signal.addEventListener("abort", () => {
      clearTimeout(timer);
      resolve();
    }, { once: true });
  });
}
