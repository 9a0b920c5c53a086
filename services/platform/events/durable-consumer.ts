import type { JetStreamClient, JetStreamManager, JsMsg } from "@nats-io/jetstream";
import { exponentialBackoff } from "../process/backoff.js";
import type { Logger } from "../process/logger.js";
import type { ConsumerDeclaration } from "./consumer-declaration.js";
import { startConsumerLoop, type DurableConsumer } from "./consumer-loop.js";
import type { HandleResult } from "./message-settlement.js";

export type { DurableConsumer } from "./consumer-loop.js";
export type { HandleResult } from "./message-settlement.js";

/**
 * A durable consumer of raw messages. Consumers of catalogue events use startEventConsumer instead,
 * which decodes each message once and hands the handler a typed event.
 */
export interface DurableConsumerOptions extends ConsumerDeclaration {
  js: JetStreamClient;
  jsm: JetStreamManager;
  /** Subject of the dead-letter stream (see deadLetterSubject in event-stream.ts). */
  deadLetterSubject: string;
  logger: Logger;
  /** Processes one message; a throw counts as a retry with the consumer's backoff. */
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
  /** Backoff of retries ({ retry } results and throws): initial doubling per delivery up to max, jittered. Defaults 1 s and 60 s. */
  retryBackoffMs?: { initial: number; max: number };
}

/**
 * Runs a durable pull consumer handing the handler one raw message at a time (see consumer-loop.ts
 * for restarts, settling and stop). Failures are nak'ed with a delay; on the last delivery they go to
 * the dead-letter subject, and only then is the message terminated.
 */
export function startDurableConsumer(options: DurableConsumerOptions): Promise<DurableConsumer> {
  const tuning = options.retryBackoffMs ?? { initial: 1000, max: 60_000 };
  return startConsumerLoop<JsMsg>({
    ...options,
    concurrency: options.concurrency ?? 1,
    maxBatch: 1,
    pullBatch: options.batchSize,
    retryBackoff: exponentialBackoff({ initialMs: tuning.initial, maxMs: tuning.max }),
    prepare: (msg) => ({ item: msg, key: options.orderingKey?.(msg) }),
    handle: async ([msg]) => [await options.handle(msg!)],
    onDeadLetter: options.onDeadLetter ? (msg, _item, reason) => options.onDeadLetter!(msg, reason) : undefined,
  });
}
