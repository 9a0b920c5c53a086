import { sql } from "drizzle-orm";
import { bigint, customType, index, integer, pgTable, text, timestamp, uuid, type PgDatabase, type PgQueryResultHKT } from "drizzle-orm/pg-core";
import { ATTR_DB_COLLECTION_NAME, ATTR_DB_OPERATION_BATCH_SIZE, ATTR_DB_OPERATION_NAME, ATTR_DB_SYSTEM_NAME, DB_SYSTEM_NAME_VALUE_POSTGRESQL } from "@opentelemetry/semantic-conventions";
import type { EncodedEvent } from "../events/catalogue.js";
import { isTracing, SpanKind, traceparentOf, withSpan } from "../telemetry/index.js";

const bytea = customType<{ data: Uint8Array; driverData: Buffer }>({
  dataType: () => "bytea",
  toDriver: (value) => Buffer.from(value),
  fromDriver: (value) => new Uint8Array(value),
});

/**
 * The transactional outbox every service that publishes events has in its own database: written in
 * the same transaction as the state change, published to JetStream by the platform's outbox relay.
 * The row id is the event id (Nats-Msg-Id, CloudEvents id); aggregate_id is the order the event is
 * about, and `seq` orders one order's events (the relay publishes an order's rows strictly by seq).
 * Each service's schema.ts calls this once, so drizzle-kit generates the same table for every service;
 * the NOTIFY trigger that wakes the relay is hand-written in each service's migrations.
 */
export function outboxTable() {
  return pgTable(
    "outbox",
    {
      // Assigned at insert; one order's changes are serialised by its row lock, so their seq is commit order.
      seq: bigint("seq", { mode: "bigint" }).generatedAlwaysAsIdentity().notNull(),
      id: uuid("id").primaryKey(),
      aggregateId: uuid("aggregate_id").notNull(),
      /** Event name under the subject prefix, e.g. "created" is published on "<prefix>.created". */
      eventName: text("event_name").notNull(),
      /** Full protobuf message name, the CloudEvents type. */
      eventType: text("event_type").notNull(),
      payload: bytea("payload").notNull(),
      createdAt: timestamp("created_at", { withTimezone: true, precision: 3 }).notNull(),
      publishedAt: timestamp("published_at", { withTimezone: true, precision: 3 }),
      attempts: integer("attempts").notNull().default(0),
      lastError: text("last_error"),
      /** W3C traceparent of the span that wrote the event (see tracedOutboxWrite); the relay's PRODUCER span continues it. */
      traceparent: text("traceparent"),
      /** A row whose publish failed is not tried again before this time (its own backoff). */
      nextAttemptAt: timestamp("next_attempt_at", { withTimezone: true, precision: 3 }),
      /** Set when the relay gave up on the row (OUTBOX_MAX_ATTEMPTS); it is never tried again. */
      failedAt: timestamp("failed_at", { withTimezone: true, precision: 3 }),
    },
    (t) => [
      // The relay's scan: pending rows in seq order.
      index("outbox_pending").on(t.seq).where(sql`${t.publishedAt} is null and ${t.failedAt} is null`),
      // Its "no earlier pending row of this order" probe.
      index("outbox_pending_by_aggregate").on(t.aggregateId, t.seq).where(sql`${t.publishedAt} is null and ${t.failedAt} is null`),
    ],
  );
}

/** A service's outbox table, as outboxTable() defines it. */
export type OutboxTable = ReturnType<typeof outboxTable>;

/** What a transaction (or the database) needs to write an outbox row. */
export type OutboxWriter = Pick<PgDatabase<PgQueryResultHKT, Record<string, unknown>>, "execute">;

/** An event to write into the outbox with the change it describes. */
export interface OutboxEntry {
  event: EncodedEvent;
  /** When the change happened (the CloudEvents time). */
  createdAt: Date;
  /**
   * W3C traceparent the row carries. Default: the outbox write's own span (a child of the active span),
   * so the relay continues the trace that made the change; a batch of many orders gives each entry the
   * context of its own order's message instead, so every order keeps its own trace.
   */
  traceparent?: string | undefined;
}

/**
 * Runs an outbox insert of `count` events inside a CLIENT span "INSERT outbox" (db.* attributes) and
 * hands it the traceparent to store on rows that carry no other: that span's. While not tracing (or
 * outside any span: no trace to continue) it passes undefined and starts nothing.
 */
export function tracedOutboxWrite<T>(count: number, write: (traceparent: string | undefined) => Promise<T>): Promise<T> {
  if (!isTracing()) return write(undefined);
  return withSpan(
    "INSERT outbox",
    {
      kind: SpanKind.CLIENT,
      requireParent: true,
      attributes: {
        [ATTR_DB_SYSTEM_NAME]: DB_SYSTEM_NAME_VALUE_POSTGRESQL,
        [ATTR_DB_OPERATION_NAME]: "INSERT",
        [ATTR_DB_COLLECTION_NAME]: "outbox",
        ...(count > 1 ? { [ATTR_DB_OPERATION_BATCH_SIZE]: count } : {}),
      },
    },
    (span) => write(span && traceparentOf()),
  );
}

/**
 * Writes events into the outbox; call it inside the transaction of the change they describe. One
 * statement whatever the count: each column travels as one array parameter (drizzle's multi-row
 * insert builds, and PostgreSQL parses, seven parameters per row, a large share of a batch's CPU).
 * Payloads go as hex text and times as epoch ms: arrays of buffers and of dates do not survive the
 * driver's serializers as bytea[] and timestamptz[].
 */
export async function insertOutboxEvents(tx: OutboxWriter, table: OutboxTable, entries: readonly OutboxEntry[]): Promise<void> {
  if (entries.length === 0) return;
  const column = (c: { name: string }) => sql.identifier(c.name);
  const array = (values: unknown[]) => sql.param(values);
  await tracedOutboxWrite(entries.length, (traceparent) => tx.execute(sql`
    insert into ${table} (${column(table.id)}, ${column(table.aggregateId)}, ${column(table.eventName)}, ${column(table.eventType)},
                          ${column(table.payload)}, ${column(table.createdAt)}, ${column(table.traceparent)})
    select id, aggregate_id, event_name, event_type, payload, to_timestamp(created_ms / 1000.0), traceparent
    from unnest(
      ${array(entries.map((e) => e.event.id))}::uuid[],
      ${array(entries.map((e) => e.event.orderId))}::uuid[],
      ${array(entries.map((e) => e.event.name))}::text[],
      ${array(entries.map((e) => e.event.type))}::text[],
      ${array(entries.map((e) => `\\x${Buffer.from(e.event.payload).toString("hex")}`))}::text[]::bytea[],
      ${array(entries.map((e) => String(e.createdAt.getTime())))}::text[]::bigint[],
      ${array(entries.map((e) => e.traceparent ?? traceparent ?? null))}::text[])
      as e(id, aggregate_id, event_name, event_type, payload, created_ms, traceparent)`));
}
