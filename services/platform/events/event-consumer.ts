import type { JetStreamClient, JetStreamManager, JsMsg } from "@nats-io/jetstream";
import { exponentialBackoff, type ExponentialBackoffOptions } from "../process/backoff.js";
import type { Logger } from "../process/logger.js";
import { catalogue, decodeEvent, subjectOf, type DecodedEvent, type EventFamily } from "./catalogue.js";
import type { ConsumerDeclaration } from "./consumer-declaration.js";
import { startConsumerLoop, type DurableConsumer, type Prepared } from "./consumer-loop.js";
import { deadLetterSubject } from "./event-stream.js";
import type { HandleResult } from "./message-settlement.js";
import { handleInSpans } from "./messaging-spans.js";
import { isTracing, type Context } from "../telemetry/index.js";

/** The name of an event in the catalogue, e.g. "orderCreated". */
export type EventKey = keyof typeof catalogue;

/** One delivered event: decoded once, with the message it came in (headers, delivery count). */
export interface EventDelivery<K extends EventKey = EventKey> {
  event: Extract<DecodedEvent, { key: K }>;
  msg: JsMsg;
  /**
   * The context of this message's CONSUMER span (a child of its producer's): a batch handler runs the
   * message's own work in it (runInContext) or stores it on the outbox rows the message causes
   * (traceparentOf), so the order's trace goes on. Undefined while the process does not trace.
   */
  trace?: Context | undefined;
}

/** A handler of one event at a time. */
export interface SingleEventHandler<K extends EventKey> {
  /** Handles one event; a throw counts as a retry with the consumer's backoff. */
  handle(delivery: EventDelivery<K>): Promise<HandleResult>;
  /** Events handled at the same time by this replica. Default 1. */
  concurrency?: number;
}

/**
 * A handler of the events this replica holds, together: e.g. one statement claims them all and the
 * acks leave together. A batch never holds two events of one ordering key (the later one waits for
 * the next batch), so per-key order holds as with single events.
 */
export interface BatchEventHandler<K extends EventKey> {
  /** Handles a batch; returns one result per delivery, in order. A throw retries the whole batch. */
  handleBatch(deliveries: EventDelivery<K>[]): Promise<HandleResult[]>;
  /** Events in one batch at most. */
  maxBatch: number;
  /** Batches handled at the same time by this replica. Default 1. */
  concurrency?: number;
}

/** Everything a consumer of catalogue events needs, besides its handler. */
export interface EventConsumerBaseOptions<K extends EventKey> extends Omit<ConsumerDeclaration, "filterSubject"> {
  js: JetStreamClient;
  jsm: JetStreamManager;
  logger: Logger;
  /** The family whose stream this consumes (see catalogue.ts). */
  family: EventFamily;
  subjectPrefix: string;
  /**
   * The events the handler wants. One: the consumer filters on its subject. Several: it filters on
   * `${subjectPrefix}.>` (NATS 2.9 has no multi-filter consumers) and acks the family's other events
   * and subjects the catalogue does not know without decoding them or calling the handler.
   */
  events: readonly K[];
  /** Events with the same key are handled in stream order. Default: the order the event is about; undefined: no constraint. */
  orderingKey?(event: Extract<DecodedEvent, { key: K }>): string | undefined;
  /** Backoff of retries ({ retry } results, throws, failed dead-letter publishes) by delivery. Default 1 s doubling to 60 s. */
  retryBackoff?: ExponentialBackoffOptions;
  /** Re-declares the stream before every (re)start, if this process may (see ensureEventStreams). */
  declareStream?(): Promise<unknown>;
  /** Called after a message was dead-lettered and terminated; `event` is absent when it did not decode. */
  onDeadLetter?(dead: { event: Extract<DecodedEvent, { key: K }> | undefined; msg: JsMsg }, reason: string): Promise<void> | void;
  /** Messages pulled per request and held at most. Default max(10, concurrency * batch size). */
  pullBatch?: number;
}

/** Options of startEventConsumer: the base and either a single-event or a batch handler. */
export type EventConsumerOptions<K extends EventKey> = EventConsumerBaseOptions<K> & (SingleEventHandler<K> | BatchEventHandler<K>);

/**
 * Starts a durable consumer of catalogue events (restarts, backoff, dead letters: consumer-loop.ts).
 * Each message is decoded once with decodeEvent: a poison message (undecodable, no event id, no
 * order) goes to the dead letter without reaching the handler; subjects it does not want are acked.
 */
export function startEventConsumer<K extends EventKey>(options: EventConsumerOptions<K>): Promise<DurableConsumer> {
  type Wanted = Extract<DecodedEvent, { key: K }>;
  const wanted = new Set<EventKey>(options.events);
  if (wanted.size === 0) throw new Error(`consumer ${options.durable} wants no events`);
  for (const key of wanted) {
    if (catalogue[key].family !== options.family) throw new Error(`${key} is not an event of family ${options.family}`);
  }
  const only = wanted.size === 1 ? catalogue[options.events[0]!] : undefined;
  const keyOf = options.orderingKey ?? ((event: Wanted) => event.orderId);

  // By subject first: an event the handler does not want is acked undecoded (cheaper, and never
  // dead-lettered by a consumer that does not care whether it decodes).
  const wantedSubjects = new Set([...wanted].map((key) => subjectOf(catalogue[key], options.subjectPrefix)));
  const prepare = (msg: JsMsg): Prepared<EventDelivery<K>> => {
    if (!wantedSubjects.has(msg.subject)) return { settle: { ack: true } };
    const decoded = decodeEvent(options.family, options.subjectPrefix, msg.subject, msg.data);
    if ("unknown" in decoded) return { settle: { ack: true } };
    if ("poison" in decoded) return { settle: { deadLetter: decoded.poison } };
    const event = decoded as Wanted;
    return { item: { event, msg }, key: keyOf(event) };
  };

  const batch = "handleBatch" in options;
  const run = batch ? options.handleBatch : async ([delivery]: EventDelivery<K>[]) => [await options.handle(delivery!)];
  // Spans per message (and per batch): see handleInSpans.
  const handle = (deliveries: EventDelivery<K>[]) => {
    if (!isTracing()) return run(deliveries);
    const messages = deliveries.map((d) => ({ msg: d.msg, eventId: (d.event.event as { eventId?: string }).eventId ?? "", orderId: d.event.orderId }));
    return handleInSpans(messages, batch, options.durable, (_, contexts) => {
      deliveries.forEach((d, i) => (d.trace = contexts[i]));
      return run(deliveries);
    });
  };
  return startConsumerLoop<EventDelivery<K>>({
    js: options.js,
    jsm: options.jsm,
    logger: options.logger,
    stream: options.stream,
    durable: options.durable,
    filterSubject: only ? subjectOf(only, options.subjectPrefix) : `${options.subjectPrefix}.>`,
    ackWaitMs: options.ackWaitMs,
    maxDeliver: options.maxDeliver,
    maxAckPending: options.maxAckPending,
    deadLetterSubject: deadLetterSubject(options.subjectPrefix, options.durable),
    declareStream: options.declareStream,
    concurrency: options.concurrency ?? 1,
    maxBatch: batch ? options.maxBatch : 1,
    pullBatch: options.pullBatch,
    retryBackoff: exponentialBackoff(options.retryBackoff ?? { initialMs: 1000, maxMs: 60_000 }),
    prepare,
    handle,
    onDeadLetter: options.onDeadLetter ? (msg, item, reason) => options.onDeadLetter!({ event: item?.event, msg }, reason) : undefined,
  });
}
