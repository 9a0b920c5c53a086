import { and, asc, count, gt, inArray, isNotNull, sql } from "drizzle-orm";
import type { PgDatabase, PgQueryResultHKT } from "drizzle-orm/pg-core";
import type { OutboxTable } from "./outbox-table.js";

/** An outbox row the relay gave up on (failed_at set after OUTBOX_MAX_ATTEMPTS failed publishes). */
export interface FailedOutboxRow {
  /** The event id (ce-id, Nats-Msg-Id). */
  id: string;
  /** The order the event is about. */
  aggregateId: string;
  /** ce-type, e.g. "orders.v1.OrderCreated". */
  eventType: string;
  /** Failed publishes. */
  attempts: number;
  /** The last publish error ("" when none was recorded). */
  lastError: string;
  /** When the event was written. */
  createdAt: Date;
  /** When the relay gave up on it. */
  failedAt: Date;
  /** Its place in the outbox: the page cursor. */
  seq: bigint;
}

/** A page of failed rows, oldest (by outbox sequence) first. */
export interface FailedOutboxPage {
  rows: FailedOutboxRow[];
  /** The seq the next page starts after; undefined on the last page. */
  after: bigint | undefined;
}

/** What a retry handed back to the relay. */
export interface FailedOutboxRetry {
  /** Ids of the rows given back to the relay. */
  retried: string[];
  /** Failed rows left. */
  remaining: number;
}

/** Failed rows one retry gives back at most. */
export const maxFailedOutboxRetries = 1000;

/** What a database needs for the failed-outbox operations (a service's drizzle database). */
export type FailedOutboxDatabase = Pick<PgDatabase<PgQueryResultHKT, Record<string, unknown>>, "select" | "update" | "execute">;

/** The operator's side of a service's outbox: list the rows the relay gave up on, give them back to it. */
export interface FailedOutbox {
  /** Failed rows after the cursor (exclusive), oldest first. */
  list(pageSize: number, after?: bigint): Promise<FailedOutboxPage>;
  /** Gives these failed rows (ids that are not failed rows are ignored), or the oldest maxFailedOutboxRetries of all, back to the relay. */
  retry(selection: { ids: readonly string[] } | { all: true }): Promise<FailedOutboxRetry>;
}

/**
 * The failed rows of one service's outbox. A retry sets failed_at and next_attempt_at to null and
 * attempts to 0, so the relay publishes the row on its next pass with its original event id, as if
 * it were new; last_error is kept until the relay's next failure overwrites it (an operator sees why
 * it had failed). The relay publishes an order's rows by seq, so a retried row is published before
 * the order's events still waiting, but after those that went on while it was failed: consumers
 * apply events by version or event id, not by arrival. `channel` (the service's outbox NOTIFY
 * channel) wakes the relays at once; without it they find the rows on their next poll (1 s).
 */
export function failedOutbox(db: FailedOutboxDatabase, outbox: OutboxTable, channel?: string): FailedOutbox {
  const rowOf = (r: { seq: bigint; id: string; aggregateId: string; eventType: string; attempts: number; lastError: string | null; createdAt: Date; failedAt: Date | null }): FailedOutboxRow => ({
    ...r,
    lastError: r.lastError ?? "",
    failedAt: r.failedAt!,
  });
  const columns = {
    seq: outbox.seq,
    id: outbox.id,
    aggregateId: outbox.aggregateId,
    eventType: outbox.eventType,
    attempts: outbox.attempts,
    lastError: outbox.lastError,
    createdAt: outbox.createdAt,
    failedAt: outbox.failedAt,
  };
  const failedCount = async () => Number((await db.select({ n: count() }).from(outbox).where(isNotNull(outbox.failedAt)))[0]!.n);

  return {
    async list(pageSize, after) {
      // Failed rows are few and never pruned (only published ones are), so no index is kept for them.
      const rows = await db
        .select(columns)
        .from(outbox)
        .where(and(isNotNull(outbox.failedAt), after === undefined ? undefined : gt(outbox.seq, after)))
        .orderBy(asc(outbox.seq))
        .limit(pageSize + 1);
      const page = rows.slice(0, pageSize).map(rowOf);
      return { rows: page, after: rows.length > pageSize ? page.at(-1)!.seq : undefined };
    },

    async retry(selection) {
      const ids = "ids" in selection ? [...new Set(selection.ids.map((id) => id.toLowerCase()))].slice(0, maxFailedOutboxRetries) : undefined;
      if (ids?.length === 0) return { retried: [], remaining: await failedCount() };
      const oldest = db.select({ id: outbox.id }).from(outbox).where(isNotNull(outbox.failedAt)).orderBy(asc(outbox.seq)).limit(maxFailedOutboxRetries);
      const retried = await db
        .update(outbox)
        .set({ failedAt: null, attempts: 0, nextAttemptAt: null })
        .where(and(isNotNull(outbox.failedAt), ids ? inArray(outbox.id, ids) : inArray(outbox.id, oldest)))
        .returning({ id: outbox.id, seq: outbox.seq });
      if (retried.length > 0 && channel) await db.execute(sql`select pg_notify(${channel}, '')`);
      return { retried: retried.sort((a, b) => (a.seq < b.seq ? -1 : 1)).map((r) => r.id), remaining: await failedCount() };
    },
  };
}
