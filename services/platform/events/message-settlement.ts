import type { JetStreamClient, JsMsg } from "@nats-io/jetstream";
import type { Logger } from "../process/logger.js";
import { publishDeadLetter } from "./dead-letter.js";
import { consumerDeadLettered, consumerSettled } from "../metrics/event-metrics.js";

/** What the handler decided about one message. */
export type HandleResult =
  /** Done: ack it. */
  | { ack: true }
  /** Not now: nak it with the consumer's backoff for this delivery (dead-lettered on the last delivery). */
  | { retry: string }
  /** Not now: nak with this delay so JetStream redelivers later (dead-lettered on the last delivery). */
  | { retryInMs: number; reason: string }
  /** Never processable (e.g. undecodable payload): straight to the dead letter. */
  | { deadLetter: string };

/** How a consumer settles its messages. */
export interface SettlementOptions<T> {
  js: JetStreamClient;
  /** The stream and durable name label the consumer's metrics. */
  stream: string;
  durable: string;
  /** Deliveries in total; a retry asked for on the last one dead-letters the message instead. -1: no limit. */
  maxDeliver: number;
  deadLetterSubject: string;
  /** Delay of a retry (and of a failed dead-letter publish) for a delivery count. */
  retryBackoff(attempt: number): number;
  logger: Logger;
  /** Called after a message was dead-lettered and terminated, with the handler's item when there was one. */
  onDeadLetter?(msg: JsMsg, item: T | undefined, reason: string): Promise<void> | void;
}

/** Settles messages by their results: ack, nak with a delay, or dead letter then terminate. */
export type Settle<T> = (msg: JsMsg, item: T | undefined, result: HandleResult) => Promise<void>;

/**
 * The settling of one consumer. A message is terminated only once its dead-letter copy is stored: if
 * that publish fails (the dead-letter stream is full or unreachable) it is nak'ed instead and comes
 * back later, so giving up on a message never loses it.
 */
export function messageSettlement<T>(options: SettlementOptions<T>): Settle<T> {
  const log = options.logger;
  const labels = { stream: options.stream, consumer: options.durable };
  const settled = {
    ack: consumerSettled.labels({ ...labels, outcome: "ack" }),
    retry: consumerSettled.labels({ ...labels, outcome: "retry" }),
    deadLetter: consumerSettled.labels({ ...labels, outcome: "dead_letter" }),
  };
  const deadLettered = consumerDeadLettered.labels(labels);
  // Exported at 0 from the start: an alert's increase() cannot see a series' first sample rise.
  for (const counter of [...Object.values(settled), deadLettered]) counter.inc(0);

  const deadLetter = async (msg: JsMsg, item: T | undefined, reason: string) => {
    const fields = { subject: msg.subject, seq: msg.info.streamSequence, delivery: msg.info.deliveryCount };
    try {
      await publishDeadLetter(options.js, options.deadLetterSubject, options.durable, msg, reason);
    } catch (err) {
      log.error({ ...fields, err }, "dead-letter publish failed; nak");
      msg.nak(options.retryBackoff(msg.info.deliveryCount));
      settled.retry.inc();
      return;
    }
    msg.term();
    settled.deadLetter.inc();
    deadLettered.inc();
    log.warn({ ...fields, reason, deadLetterSubject: options.deadLetterSubject }, "message dead-lettered");
    try {
      await options.onDeadLetter?.(msg, item, reason);
    } catch (err) {
      log.error({ err }, "onDeadLetter hook failed");
    }
  };

  return async (msg, item, result) => {
    if ("ack" in result) {
      msg.ack();
      settled.ack.inc();
      return;
    }
    if ("deadLetter" in result) {
      await deadLetter(msg, item, result.deadLetter);
      return;
    }
    const reason = "retry" in result ? result.retry : result.reason;
    if (options.maxDeliver > 0 && msg.info.deliveryCount >= options.maxDeliver) {
      await deadLetter(msg, item, `gave up after ${msg.info.deliveryCount} deliveries: ${reason}`);
      return;
    }
    const retryInMs = "retryInMs" in result ? result.retryInMs : options.retryBackoff(msg.info.deliveryCount);
    log.info({ subject: msg.subject, seq: msg.info.streamSequence, delivery: msg.info.deliveryCount, retryInMs, reason }, "message retried later");
    msg.nak(retryInMs);
    settled.retry.inc();
  };
}
