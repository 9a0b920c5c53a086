import { fromBinary, toJsonString } from "@bufbuild/protobuf";
import type { JetStreamClient, JetStreamManager, StoredMsg } from "@nats-io/jetstream";
import { headers, Match, type MsgHdrs } from "@nats-io/transport-node";
import { eventOfSubject, type EventFamily, type EventFamilyConfig } from "./catalogue.js";
import { CloudEventHeader } from "./cloudevents.js";
import { DeadLetterHeader } from "./dead-letter.js";
import { deadLetterStreamName, deadLetterSubject } from "./event-stream.js";
import { isNoMessageFound, isStreamNotFound } from "./jetstream-errors.js";

/** Names one dead letter: its dead-letter stream and its sequence there. */
export interface DeadLetterRef {
  /** The dead-letter stream, e.g. "ORDERS_DEADLETTER". */
  stream: string;
  /** Its sequence in that stream. */
  sequence: number;
}

/** What a dead letter's headers and metadata say about it (admin.v1.DeadLetter). */
export interface DeadLetterSummary extends DeadLetterRef {
  /** The durable consumer that gave up on it (the last token of its dead-letter subject). */
  consumer: string;
  /** Why (x-deadletter-reason). */
  reason: string;
  /** Where it was first published (x-original-subject); where a redrive sends it. */
  originalSubject: string;
  /** The stream it was first stored in (x-original-stream). */
  originalStream: string;
  /** Deliveries when the consumer gave up (x-delivery-count); 0 when absent. */
  deliveryCount: number;
  /** ce-id, "" when absent. */
  eventId: string;
  /** ce-type, "" when absent. */
  eventType: string;
  /** When JetStream stored the dead letter. */
  deadLetteredAt: Date;
}

/** One dead letter in full (admin.v1.GetDeadLetterResponse). */
export interface DeadLetterDetail extends DeadLetterSummary {
  /** Every header as stored, in order; a repeated header appears once per value. */
  headers: Array<{ name: string; value: string }>;
  /** The payload decoded with its event's schema, as protobuf JSON; undefined when it does not decode. */
  payloadJson: string | undefined;
  /** Why the payload did not decode; undefined when it did. */
  payloadError: string | undefined;
  /** The payload's size in bytes. */
  payloadBytes: number;
}

/** Which dead letters; an absent field matches everything. */
export interface DeadLetterFilter {
  /** Only this dead-letter stream. */
  stream?: string | undefined;
  /** Only those of this durable consumer. */
  consumer?: string | undefined;
  /** Only events of this CloudEvents type. */
  eventType?: string | undefined;
}

/** A page of dead letters, oldest first per stream, the streams one after another. */
export interface DeadLetterPage {
  deadLetters: DeadLetterSummary[];
  /** Where the next page starts (the next match, or where the scan stopped); undefined on the last page. */
  next: DeadLetterRef | undefined;
}

/** The outcome of a redrive or discard of a selection. */
export interface DeadLetterBatch {
  /** The dead letters acted on, in the order they were acted on. */
  done: DeadLetterRef[];
  /**
   * How many of the selection are still there. Exact unless an event-type filter met more than
   * maxCountScan further dead letters: then an upper bound (it is 0 only when none are left).
   */
  remaining: number;
}

/** A selection of dead letters: these refs, or every one matching a filter (the empty filter: all). */
export type DeadLetterSelection = { refs: readonly DeadLetterRef[] } | { matching: DeadLetterFilter };

/** The dead letters named do not exist (discarded, redriven, expired, or never did). */
export class DeadLetterNotFoundError extends Error {
  /** The refs that were not found. */
  readonly refs: DeadLetterRef[];
  constructor(refs: DeadLetterRef[]) {
    super(`no such dead letter: ${refs.slice(0, 20).map(refText).join(", ")}${refs.length > 20 ? ` and ${refs.length - 20} more` : ""}`);
    this.refs = refs;
  }
}

/** A dead letter that cannot be published again: no original subject under its family's prefix. */
export class DeadLetterNotRedrivableError extends Error {}

/** A stream name that is not one of the mesh's dead-letter streams. */
export class UnknownDeadLetterStreamError extends Error {}

/** Dead letters one call acts on at most. */
export const maxDeadLettersPerCall = 1000;

/** Further dead letters a count with an event-type filter reads before it estimates the rest. */
export const maxCountScan = 10_000;

/** Dead letters a page reads at most before it returns what it found (an event-type filter may match few). */
export const maxPageScan = 5000;

/** Where the families' dead letters live and how to reach them. */
export interface DeadLetterStoreOptions {
  jsm: JetStreamManager;
  /** The families whose dead-letter streams this store sees, in listing order. */
  families: Partial<Record<EventFamily, EventFamilyConfig>>;
}

/** The mesh's dead letters: list, read, redrive, discard. */
export interface DeadLetterStore {
  /** The dead-letter streams it sees, in listing order. */
  readonly streams: readonly string[];
  /** A page of dead letters matching the filter, from `from` on (inclusive). */
  list(filter: DeadLetterFilter, pageSize: number, from?: DeadLetterRef): Promise<DeadLetterPage>;
  /** One dead letter in full; undefined when there is no such one. */
  get(ref: DeadLetterRef): Promise<DeadLetterDetail | undefined>;
  /**
   * Publishes the selected dead letters to their original subjects and removes each once JetStream
   * stored its copy (at most maxDeadLettersPerCall, oldest first). The first failure stops the call:
   * what was redriven before it stays redriven.
   */
  redrive(selection: DeadLetterSelection): Promise<DeadLetterBatch>;
  /** Removes the selected dead letters (at most maxDeadLettersPerCall). */
  discard(selection: DeadLetterSelection): Promise<DeadLetterBatch>;
}

/** The Nats-Msg-Id of a dead letter's redrive: one per dead letter, so a repeat within the window is dropped. */
export function redriveMessageId(ref: DeadLetterRef): string {
  return `redrive:${ref.stream}:${ref.sequence}`;
}

interface StreamEntry {
  family: EventFamily;
  config: EventFamilyConfig;
  /** The dead-letter stream's name. */
  name: string;
  /** Every subject of the dead-letter stream (`deadletter.<prefix>.>`). */
  subjects: string;
  /** The dead-letter subject prefix, up to the consumer's name. */
  subjectPrefix: string;
}

/**
 * The dead-letter store over JetStream's stream API, which NATS 2.9 has in full: STREAM.MSG.GET with
 * `next_by_subj` walks a stream by sequence and skips deleted messages server-side (the direct-get
 * API would need `allow_direct` on the streams, and its batch form needs 2.11), STREAM.MSG.DELETE
 * removes one message. Every read is one request, so pages and selections are bounded.
 */
export function createDeadLetterStore(options: DeadLetterStoreOptions): DeadLetterStore {
  const { jsm } = options;
  const js: JetStreamClient = jsm.jetstream();
  const entries: StreamEntry[] = (Object.entries(options.families) as Array<[EventFamily, EventFamilyConfig]>).map(([family, config]) => ({
    family,
    config,
    name: deadLetterStreamName(config.stream),
    subjects: `deadletter.${config.subjectPrefix}.>`,
    subjectPrefix: `deadletter.${config.subjectPrefix}.`,
  }));
  const entryOf = (stream: string): StreamEntry => {
    const entry = entries.find((e) => e.name === stream);
    if (!entry) throw new UnknownDeadLetterStreamError(`${stream} is not a dead-letter stream of the mesh (${entries.map((e) => e.name).join(", ")})`);
    return entry;
  };
  const subjectFor = (entry: StreamEntry, filter: DeadLetterFilter) => (filter.consumer ? deadLetterSubject(entry.config.subjectPrefix, filter.consumer) : entry.subjects);
  const selected = (filter: DeadLetterFilter) => {
    if (filter.stream) entryOf(filter.stream);
    return entries.filter((e) => !filter.stream || e.name === filter.stream);
  };

  /** The first message on or after seq on the subject; null when there is none (or no stream). */
  const nextOf = async (entry: StreamEntry, seq: number, subject: string): Promise<StoredMsg | null> => {
    try {
      // nats.js types MSG.GET without next_by_subj, which the 2.9 server accepts (it is how direct get pages too).
      return await jsm.streams.getMessage(entry.name, { seq, next_by_subj: subject } as unknown as { seq: number });
    } catch (err) {
      if (isStreamNotFound(err)) return null;
      throw err;
    }
  };

  /** Every stored dead letter matching the stream and consumer parts of the filter, from `from` on. */
  async function* walk(filter: DeadLetterFilter, from?: DeadLetterRef, until?: Map<string, number>): AsyncGenerator<{ entry: StreamEntry; msg: StoredMsg }> {
    const streams = selected(filter);
    const start = from ? streams.findIndex((e) => e.name === from.stream) : 0;
    if (from && start < 0) throw new UnknownDeadLetterStreamError(`${from.stream} is not a dead-letter stream of the mesh, or not one the filter selects`);
    for (let i = start; i < streams.length; i++) {
      const entry = streams[i]!;
      const subject = subjectFor(entry, filter);
      const last = until?.get(entry.name) ?? Infinity;
      for (let seq = i === start && from ? from.sequence : 1; seq <= last; ) {
        const msg = await nextOf(entry, seq, subject);
        if (!msg || msg.seq > last) break;
        yield { entry, msg };
        seq = msg.seq + 1;
      }
    }
  }

  const matchesType = (filter: DeadLetterFilter, msg: StoredMsg) => !filter.eventType || header(msg.header, CloudEventHeader.type) === filter.eventType;

  /** The last sequence of each selected stream now: a selection never reaches dead letters that arrive while it runs. */
  const lastSequences = async (filter: DeadLetterFilter) => {
    const out = new Map<string, number>();
    for (const entry of selected(filter)) {
      const info = await jsm.streams.info(entry.name).catch((err: unknown) => {
        if (isStreamNotFound(err)) return undefined;
        throw err;
      });
      out.set(entry.name, info?.state.last_seq ?? 0);
    }
    return out;
  };

  /** How many dead letters match the filter now. */
  const count = async (filter: DeadLetterFilter): Promise<number> => {
    if (!filter.eventType) {
      let total = 0;
      for (const entry of selected(filter)) {
        const subject = subjectFor(entry, filter);
        const info = await jsm.streams.info(entry.name, filter.consumer ? { subjects_filter: subject } : undefined).catch((err: unknown) => {
          if (isStreamNotFound(err)) return undefined;
          throw err;
        });
        if (!info) continue;
        total += filter.consumer ? (info.state.subjects?.[subject] ?? 0) : info.state.messages;
      }
      return total;
    }
    // The type is a header: counted by reading, up to maxCountScan, then every later message counts.
    let scanned = 0;
    let matched = 0;
    let lastSeen: { entry: StreamEntry; seq: number } | undefined;
    for await (const { entry, msg } of walk(filter)) {
      if (++scanned > maxCountScan) {
        lastSeen = { entry, seq: msg.seq };
        break;
      }
      if (matchesType(filter, msg)) matched++;
    }
    if (!lastSeen) return matched;
    const last = await lastSequences(filter);
    const streams = selected(filter);
    const at = streams.indexOf(lastSeen.entry);
    let rest = (last.get(lastSeen.entry.name) ?? 0) - lastSeen.seq + 1;
    for (const entry of streams.slice(at + 1)) rest += last.get(entry.name) ?? 0;
    return matched + Math.max(1, rest);
  };

  /** The stored dead letters of a selection, at most maxDeadLettersPerCall, oldest first. */
  const resolve = async (selection: DeadLetterSelection): Promise<Array<{ entry: StreamEntry; msg: StoredMsg }>> => {
    if ("refs" in selection) {
      const found: Array<{ entry: StreamEntry; msg: StoredMsg }> = [];
      const missing: DeadLetterRef[] = [];
      const unique = [...new Map(selection.refs.map((r) => [refText(r), r])).values()];
      for (const ref of unique.slice(0, maxDeadLettersPerCall)) {
        const entry = entryOf(ref.stream);
        const msg = await read(entry, ref.sequence);
        if (msg) found.push({ entry, msg });
        else missing.push(ref);
      }
      if (missing.length > 0) throw new DeadLetterNotFoundError(missing);
      return found;
    }
    const until = await lastSequences(selection.matching);
    const out: Array<{ entry: StreamEntry; msg: StoredMsg }> = [];
    for await (const item of walk(selection.matching, undefined, until)) {
      if (!matchesType(selection.matching, item.msg)) continue;
      out.push(item);
      if (out.length >= maxDeadLettersPerCall) break;
    }
    return out;
  };

  const read = async (entry: StreamEntry, seq: number): Promise<StoredMsg | null> => {
    try {
      return await jsm.streams.getMessage(entry.name, { seq });
    } catch (err) {
      if (isStreamNotFound(err)) return null;
      throw err;
    }
  };

  const remove = async (ref: DeadLetterRef) => {
    // no_erase: the message is dropped from the index; overwriting it on disk buys nothing here.
    await jsm.streams.deleteMessage(ref.stream, ref.sequence, false).catch((err: unknown) => {
      // Another operator (or the stream's max_age) removed it first: the outcome asked for holds.
      if (!isNoMessageFound(err)) throw err;
    });
  };

  const remainingAfter = async (selection: DeadLetterSelection, done: number) =>
    "refs" in selection ? Math.max(0, new Set(selection.refs.map(refText)).size - done) : count(selection.matching);

  return {
    streams: entries.map((e) => e.name),

    async list(filter, pageSize, from) {
      const deadLetters: DeadLetterSummary[] = [];
      let scanned = 0;
      for await (const { entry, msg } of walk(filter, from)) {
        const match = matchesType(filter, msg);
        // The page is full and a later match exists: the next page starts at it, so the last page has no token.
        if (match && deadLetters.length >= pageSize) return { deadLetters, next: { stream: entry.name, sequence: msg.seq } };
        if (match) deadLetters.push(summaryOf(entry, msg));
        // An event-type filter may match little of what it reads: a page stops reading somewhere.
        if (++scanned >= maxPageScan) return { deadLetters, next: { stream: entry.name, sequence: msg.seq + 1 } };
      }
      return { deadLetters, next: undefined };
    },

    async get(ref) {
      const entry = entryOf(ref.stream);
      const msg = await read(entry, ref.sequence);
      return msg ? detailOf(entry, msg) : undefined;
    },

    async redrive(selection) {
      const items = await resolve(selection);
      const done: DeadLetterRef[] = [];
      for (const { entry, msg } of items) {
        const ref = { stream: entry.name, sequence: msg.seq };
        try {
          await republish(js, entry, msg, ref);
          await remove(ref);
        } catch (err) {
          const reason = err instanceof Error ? err.message : String(err);
          const message = `redriving ${refText(ref)} failed: ${reason}${done.length > 0 ? ` (${done.length} redriven before it)` : ""}`;
          throw err instanceof DeadLetterNotRedrivableError ? new DeadLetterNotRedrivableError(message) : new Error(message, { cause: err });
        }
        done.push(ref);
      }
      return { done, remaining: await remainingAfter(selection, done.length) };
    },

    async discard(selection) {
      const items = await resolve(selection);
      const done: DeadLetterRef[] = [];
      for (const { entry, msg } of items) {
        const ref = { stream: entry.name, sequence: msg.seq };
        await remove(ref);
        done.push(ref);
      }
      return { done, remaining: await remainingAfter(selection, done.length) };
    },
  };
}

// What a redrive leaves out: the dead-letter headers (they describe the failure, not the event) and
// Nats-* publish directives, which applied to the first publish (its Nats-Msg-Id would make the
// original stream drop the redrive as a duplicate while its window lasts).
const droppedHeaders = new Set<string>(Object.values(DeadLetterHeader));
const isDropped = (name: string) => droppedHeaders.has(name.toLowerCase()) || name.toLowerCase().startsWith("nats-");

/** Publishes a dead letter's data and original headers to its original subject, in its family's stream. */
async function republish(js: JetStreamClient, entry: StreamEntry, msg: StoredMsg, ref: DeadLetterRef): Promise<void> {
  const subject = header(msg.header, DeadLetterHeader.originalSubject);
  if (!subject.startsWith(`${entry.config.subjectPrefix}.`)) {
    throw new DeadLetterNotRedrivableError(
      subject ? `its original subject ${subject} is not under ${entry.config.subjectPrefix}.` : `it has no ${DeadLetterHeader.originalSubject} header`,
    );
  }
  const h = headers();
  for (const [name, values] of msg.header ?? []) if (!isDropped(name)) values.forEach((v) => h.append(name, v));
  // expect streamName: the copy must land in the family's stream, not in whatever else took the subject.
  await js.publish(subject, msg.data, { headers: h, msgID: redriveMessageId(ref), expect: { streamName: entry.config.stream } });
}

function summaryOf(entry: StreamEntry, msg: StoredMsg): DeadLetterSummary {
  const h = msg.header;
  const deliveries = Number.parseInt(header(h, DeadLetterHeader.deliveryCount), 10);
  return {
    stream: entry.name,
    sequence: msg.seq,
    consumer: msg.subject.startsWith(entry.subjectPrefix) ? msg.subject.slice(entry.subjectPrefix.length) : msg.subject,
    reason: header(h, DeadLetterHeader.reason),
    originalSubject: header(h, DeadLetterHeader.originalSubject),
    originalStream: header(h, DeadLetterHeader.originalStream),
    deliveryCount: Number.isSafeInteger(deliveries) && deliveries > 0 ? deliveries : 0,
    eventId: header(h, CloudEventHeader.id),
    eventType: header(h, CloudEventHeader.type),
    deadLetteredAt: msg.time,
  };
}

function detailOf(entry: StreamEntry, msg: StoredMsg): DeadLetterDetail {
  const summary = summaryOf(entry, msg);
  const all: Array<{ name: string; value: string }> = [];
  for (const [name, values] of msg.header ?? []) for (const value of values) all.push({ name, value });
  const decoded = decodePayload(entry, summary.originalSubject, msg.data);
  return { ...summary, headers: all, ...decoded, payloadBytes: msg.data.length };
}

/** The payload as protobuf JSON by the catalogue's schema for its original subject, or why not. */
function decodePayload(entry: StreamEntry, subject: string, data: Uint8Array): { payloadJson: string | undefined; payloadError: string | undefined } {
  const found = eventOfSubject(entry.family, entry.config.subjectPrefix, subject);
  if ("unknown" in found) return { payloadJson: undefined, payloadError: found.unknown };
  try {
    const schema = found.definition.schema;
    return { payloadJson: toJsonString(schema, fromBinary(schema, data)), payloadError: undefined };
  } catch (err) {
    return { payloadJson: undefined, payloadError: `undecodable ${found.definition.schema.typeName}: ${err instanceof Error ? err.message : String(err)}` };
  }
}

/** A header's first value, case-insensitively (other producers capitalise CloudEvents names); "" when absent. */
function header(h: MsgHdrs | undefined, name: string): string {
  return h?.get(name, Match.IgnoreCase) ?? "";
}

function refText(ref: DeadLetterRef): string {
  return `${ref.stream}/${ref.sequence}`;
}
