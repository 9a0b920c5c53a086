import { ConfigError, readByteSize, readDuration, readPositiveInt, type Env } from "../process/config.js";

/** How much one stream keeps; undefined means no limit of that kind. */
export interface StreamLimits {
  /** Messages older than this are removed (JetStream max_age). */
  maxAgeMs: number | undefined;
  /** Bytes the stream may hold; a publish beyond it is refused (max_bytes with DiscardNew). */
  maxBytes: number | undefined;
}

/** The limits of an event stream and of its dead-letter stream, and how many copies a cluster keeps. */
export interface EventStreamLimits {
  events: StreamLimits;
  deadLetters: StreamLimits;
  /**
   * Copies of each stream (and of its consumers) on a clustered JetStream (num_replicas, 1 to 5;
   * STREAM_REPLICAS). A publish is acknowledged once a majority stored it, so with 3 one node may
   * crash without losing an acknowledged event. Default 1 (a single server).
   */
  replicas?: number | undefined;
}

/** JetStream's largest replication factor. */
export const maxStreamReplicas = 5;

const day = 24 * 60 * 60_000;

/**
 * Defaults. Events: 7 days (a week to replay or to let a stopped consumer catch up) and 1 GiB.
 * Dead letters: 30 days (an operator's time to look) and 256 MiB. Size max_bytes for the traffic:
 * with DiscardNew a stream that reaches it refuses publishes until max_age frees room, so max_bytes
 * should hold max_age of peak traffic, or max_age should be what max_bytes holds: a stored order
 * event takes about 0.8 KB and an order makes about five, so at 500 orders/s 1 GiB lasts ~10 minutes.
 */
export const defaultEventStreamLimits: EventStreamLimits = {
  events: { maxAgeMs: 7 * day, maxBytes: 2 ** 30 },
  deadLetters: { maxAgeMs: 30 * day, maxBytes: 256 * 2 ** 20 },
  replicas: 1,
};

/** Reads EVENTS_MAX_AGE, EVENTS_MAX_BYTES, DEADLETTER_MAX_AGE and DEADLETTER_MAX_BYTES ("7d", "1GiB", "off") and STREAM_REPLICAS. */
export function readStreamLimits(env: Env): EventStreamLimits {
  const d = defaultEventStreamLimits;
  const replicas = readPositiveInt(env, "STREAM_REPLICAS", d.replicas ?? 1);
  if (replicas > maxStreamReplicas) throw new ConfigError(`STREAM_REPLICAS must be 1 to ${maxStreamReplicas} (JetStream's limit), got ${replicas}`);
  return {
    replicas,
    events: { maxAgeMs: readDuration(env, "EVENTS_MAX_AGE", d.events.maxAgeMs, { off: true }), maxBytes: readByteSize(env, "EVENTS_MAX_BYTES", d.events.maxBytes) },
    deadLetters: {
      maxAgeMs: readDuration(env, "DEADLETTER_MAX_AGE", d.deadLetters.maxAgeMs, { off: true }),
      maxBytes: readByteSize(env, "DEADLETTER_MAX_BYTES", d.deadLetters.maxBytes),
    },
  };
}
