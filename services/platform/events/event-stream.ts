import { DiscardPolicy, RetentionPolicy, StorageType, type JetStreamManager, type StreamConfig, type StreamInfo } from "@nats-io/jetstream";
import { nanos } from "@nats-io/transport-node";
import { isStreamNameInUse, isStreamNotFound } from "./jetstream-errors.js";
import { defaultEventStreamLimits, type EventStreamLimits, type StreamLimits } from "./stream-limits.js";

/** The streams of one event family (e.g. stream ORDERS on subjects orders.>). */
export interface EventStreamsOptions {
  /** Stream name, e.g. "ORDERS"; the dead-letter stream is `${stream}_DEADLETTER`. */
  stream: string;
  /** Subject prefix, e.g. "orders"; events are `${subjectPrefix}.<kind>`. */
  subjectPrefix: string;
  /**
   * How long JetStream remembers a Nats-Msg-Id to drop a re-publish. Default 2 minutes: a relay that
   * published but crashed (or lost the PubAck) before marking its outbox row re-publishes within its
   * retry horizon of well under a minute, so the window must outlast that for the copy to be dropped.
   */
  duplicateWindowMs?: number;
  /**
   * Retention of both streams (see stream-limits.ts; readStreamLimits reads them from the environment).
   * Default defaultEventStreamLimits. JetStream reserves max_bytes of storage per stream when it is
   * declared, so tests, which declare many streams on one server, pass small limits.
   */
  limits?: EventStreamLimits;
}

/** What ensureEventStreams declared. */
export interface EventStreams {
  stream: StreamInfo;
  deadLetter: StreamInfo;
}

/** The dead-letter stream's name for a stream. */
export function deadLetterStreamName(stream: string): string {
  return `${stream}_DEADLETTER`;
}

/**
 * The subject a consumer dead-letters to. It starts with "deadletter." so it can never match the
 * main stream's `${prefix}.>` (a message re-entering its own stream would loop forever).
 */
export function deadLetterSubject(subjectPrefix: string, durable: string): string {
  return `deadletter.${subjectPrefix}.${durable}`;
}

/**
 * Declares (adds or updates) the event stream and its dead-letter stream; safe to run on every start,
 * and the way changed limits reach streams that exist already.
 */
export async function ensureEventStreams(jsm: JetStreamManager, options: EventStreamsOptions): Promise<EventStreams> {
  const duplicateWindowMs = options.duplicateWindowMs ?? 2 * 60_000;
  const limits = options.limits ?? defaultEventStreamLimits;
  // JetStream refuses a duplicate window longer than max_age; a message is gone by then anyway.
  const duplicateWindow = (streamLimits: StreamLimits) => nanos(Math.min(duplicateWindowMs, streamLimits.maxAgeMs ?? Infinity));
  const stream = await ensureStream(jsm, {
    name: options.stream,
    subjects: [`${options.subjectPrefix}.>`],
    storage: StorageType.File,
    retention: RetentionPolicy.Limits,
    duplicate_window: duplicateWindow(limits.events),
    num_replicas: limits.replicas ?? 1,
    ...retention(limits.events),
  });
  const deadLetter = await ensureStream(jsm, {
    name: deadLetterStreamName(options.stream),
    subjects: [`deadletter.${options.subjectPrefix}.>`],
    storage: StorageType.File,
    retention: RetentionPolicy.Limits,
    // Dead letters carry a Nats-Msg-Id per (consumer, original message), so a dead-letter publish
    // repeated after a crash (published, not yet term()ed) is dropped as a duplicate too.
    duplicate_window: duplicateWindow(limits.deadLetters),
    num_replicas: limits.replicas ?? 1,
    ...retention(limits.deadLetters),
  });
  return { stream, deadLetter };
}

/**
 * The stream settings of limits. DiscardNew everywhere: a full stream refuses the next publish instead
 * of deleting its oldest messages, which may be events no consumer has handled yet. A refused event
 * stays in its outbox (the relay retries it) and a refused dead letter leaves its message nak'ed in
 * the main stream, so a full stream delays work and shows up as a backlog, but loses nothing.
 * max_age still expires old messages (discard only governs the size limit).
 */
function retention(limits: StreamLimits): Pick<StreamConfig, "max_age" | "max_bytes" | "discard"> {
  return {
    // JetStream's "no limit" is 0 for max_age and -1 for max_bytes.
    max_age: limits.maxAgeMs === undefined ? 0 : nanos(limits.maxAgeMs),
    max_bytes: limits.maxBytes ?? -1,
    discard: DiscardPolicy.New,
  };
}

type DeclaredStream = Pick<StreamConfig, "name" | "subjects" | "storage" | "retention" | "duplicate_window" | "num_replicas" | "max_age" | "max_bytes" | "discard">;

async function ensureStream(jsm: JetStreamManager, config: DeclaredStream): Promise<StreamInfo> {
  let existing = await jsm.streams.info(config.name).catch((err: unknown) => {
    if (isStreamNotFound(err)) return undefined;
    throw err;
  });
  if (!existing) {
    try {
      return await jsm.streams.add(config);
    } catch (err) {
      // Another replica created it (with other settings) between our info and add: update it below.
      if (!isStreamNameInUse(err)) throw err;
      existing = await jsm.streams.info(config.name);
    }
  }
  // storage and retention cannot change on an existing stream; the rest is brought up to date.
  const { storage: _storage, retention: _retention, name: _name, ...changeable } = config;
  const current = existing.config;
  const same = Object.entries(changeable).every(([key, value]) => JSON.stringify(current[key as keyof StreamConfig]) === JSON.stringify(value));
  return same ? existing : jsm.streams.update(config.name, changeable);
}
