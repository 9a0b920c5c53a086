import { RetentionPolicy, StorageType, type JetStreamManager, type StreamConfig, type StreamInfo } from "@nats-io/jetstream";
import { nanos } from "@nats-io/transport-node";

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

/** Declares (adds or updates) the event stream and its dead-letter stream; safe to run on every start. */
export async function ensureEventStreams(jsm: JetStreamManager, options: EventStreamsOptions): Promise<EventStreams> {
  const duplicateWindow = nanos(options.duplicateWindowMs ?? 2 * 60_000);
  const stream = await ensureStream(jsm, {
    name: options.stream,
    subjects: [`${options.subjectPrefix}.>`],
    storage: StorageType.File,
    retention: RetentionPolicy.Limits,
    duplicate_window: duplicateWindow,
  });
  const deadLetter = await ensureStream(jsm, {
    name: deadLetterStreamName(options.stream),
    subjects: [`deadletter.${options.subjectPrefix}.>`],
    storage: StorageType.File,
    retention: RetentionPolicy.Limits,
    // Dead letters carry a Nats-Msg-Id per (consumer, original message), so a dead-letter publish
    // repeated after a crash (published, not yet term()ed) is dropped as a duplicate too.
    duplicate_window: duplicateWindow,
  });
  return { stream, deadLetter };
}

type DeclaredStream = Pick<StreamConfig, "name" | "subjects" | "storage" | "retention" | "duplicate_window">;

async function ensureStream(jsm: JetStreamManager, config: DeclaredStream): Promise<StreamInfo> {
  const existing = await jsm.streams.info(config.name).catch((err: unknown) => {
    if (isNotFound(err)) return undefined;
    throw err;
  });
  if (!existing) {
    try {
      return await jsm.streams.add(config);
    } catch (err) {
      // Another replica created it between our info and add; fall through to update it.
      if (!/already in use|already exists/i.test(String(err))) throw err;
    }
  }
  // storage and retention cannot change on an existing stream; update only what may.
  return jsm.streams.update(config.name, { subjects: config.subjects, duplicate_window: config.duplicate_window });
}

function isNotFound(err: unknown): boolean {
  return err instanceof Error && /not found/i.test(err.message);
}
