import type { JetStreamClient } from "@nats-io/jetstream";
import type { Sql } from "postgres";
import { publishEvent } from "../platform/events/index.js";
import type { Logger } from "../platform/process/index.js";

/** Tuning of the relay; defaults suit production, tests shorten them. */
export interface OutboxRelayOptions {
  sql: Sql;
  js: JetStreamClient;
  logger: Logger;
  /** Events go to `${subjectPrefix}.${event_name}`. */
  subjectPrefix: string;
  /** CloudEvents source of every event. */
  source?: string;
  /** Rows claimed and published per transaction. */
  batchSize?: number;
  /** Safety-net poll when no NOTIFY arrives (lost LISTEN connection, rows left by failed publishes). */
  pollIntervalMs?: number;
  /** How long to wait for each PubAck. */
  publishTimeoutMs?: number;
  /** Published rows older than this are deleted. */
  retentionMs?: number;
}

/** A running relay. */
export interface OutboxRelay {
  /** Unpublished rows right now (the outbox backlog gauge). */
  backlog(): Promise<number>;
  /** Publishes everything currently committed; resolves when the outbox held nothing publishable. */
  drainNow(): Promise<void>;
  stop(): Promise<void>;
}

interface OutboxEvent {
  id: string;
  event_name: string;
  event_type: string;
  payload: Buffer;
  created_at: string;
  traceparent: string | null;
}

/**
 * Publishes committed outbox rows to JetStream. Each pass claims a batch with FOR UPDATE SKIP LOCKED
 * (so any number of orders replicas relay side by side without publishing a row twice), publishes
 * the batch pipelined with Nats-Msg-Id = event id, and marks the acked rows in the same transaction.
 * A crash after publishing but before commit re-publishes the batch, which JetStream drops as duplicates.
 */
export async function startOutboxRelay(options: OutboxRelayOptions): Promise<OutboxRelay> {
  const { sql, js, logger } = options;
  const log = logger.child({ component: "outbox-relay" });
  const batchSize = options.batchSize ?? 200;
  const publishTimeoutMs = options.publishTimeoutMs ?? 2000;
  const retentionMs = options.retentionMs ?? 60 * 60_000;
  const source = options.source ?? "/ordermesh/orders";
  let stopped = false;
  let running: Promise<void> | undefined;
  let again = false;
  let failures = 0;
  let retryTimer: NodeJS.Timeout | undefined;

  /** Claims, publishes and marks one batch; returns how many rows it published and whether any failed. */
  const pass = () =>
    sql.begin(async (tx) => {
      const rows = await tx<OutboxEvent[]>`
        select id, event_name, event_type, payload, created_at::text, traceparent
        from outbox where published_at is null
        order by created_at, id
        limit ${batchSize}
        for update skip locked`;
      if (rows.length === 0) return { published: 0, failed: 0 };
      // Pipelined: one connection keeps publish order, and waiting for all acks at once costs one round trip.
      const results = await Promise.allSettled(
        rows.map((row) =>
          publishEvent(js, {
            subject: `${options.subjectPrefix}.${row.event_name}`,
            eventId: row.id,
            type: row.event_type,
            source,
            time: new Date(row.created_at),
            payload: row.payload,
            traceparent: row.traceparent ?? undefined,
            timeoutMs: publishTimeoutMs,
          }),
        ),
      );
      const published = rows.filter((_, i) => results[i]!.status === "fulfilled").map((r) => r.id);
      const failed = rows.filter((_, i) => results[i]!.status === "rejected").map((r) => r.id);
      if (published.length > 0) await tx`update outbox set published_at = now(), attempts = attempts + 1 where id = any(${published}::uuid[])`;
      if (failed.length > 0) {
        const reason = String((results.find((r) => r.status === "rejected") as PromiseRejectedResult).reason);
        await tx`update outbox set attempts = attempts + 1, last_error = ${reason} where id = any(${failed}::uuid[])`;
        log.warn({ failed: failed.length, reason }, "outbox publish failed; will retry");
      }
      return { published: published.length, failed: failed.length };
    });

  const drain = async () => {
    do {
      again = false;
      try {
        const { published, failed } = await pass();
        if (failed > 0) {
          failures++;
          scheduleRetry();
          return;
        }
        failures = 0;
        // A full batch means more may be waiting; a NOTIFY during the pass means new rows are.
        if (published === batchSize) again = true;
      } catch (err) {
        failures++;
        log.warn({ err: String(err) }, "outbox pass failed; will retry");
        scheduleRetry();
        return;
      }
    } while (again && !stopped);
  };

  const scheduleRetry = () => {
    if (stopped || retryTimer) return;
    // Back off while NATS or the database is down: 100 ms doubling to 5 s.
    const delay = Math.min(100 * 2 ** Math.min(failures - 1, 6), 5000);
    retryTimer = setTimeout(() => {
      retryTimer = undefined;
      wake();
    }, delay);
  };

  /** Starts a drain, or asks the running one to go around again. */
  const wake = (): Promise<void> => {
    if (stopped) return Promise.resolve();
    if (running) {
      again = true;
      return running;
    }
    running = drain().finally(() => {
      running = undefined;
    });
    return running;
  };

  const listener = await sql.listen("orders_outbox", () => void wake(), () => void wake());
  const poll = setInterval(() => void wake(), options.pollIntervalMs ?? 1000);
  const prune = setInterval(() => {
    sql`delete from outbox where published_at < now() - make_interval(secs => ${retentionMs / 1000})`.catch((err: unknown) =>
      log.warn({ err: String(err) }, "outbox prune failed"),
    );
  }, Math.min(retentionMs, 60_000));
  const backlog = async () => Number((await sql`select count(*)::int as n from outbox where published_at is null`)[0]!.n);
  const report = setInterval(() => {
    backlog().then(
      (n) => (n > 0 ? log.info({ outboxBacklog: n }, "outbox backlog") : undefined),
      () => undefined,
    );
  }, 10_000);
  for (const t of [poll, prune, report]) t.unref();

  return {
    backlog,
    async drainNow() {
      await wake();
      while (running) await running;
    },
    async stop() {
      stopped = true;
      for (const t of [poll, prune, report]) clearInterval(t);
      if (retryTimer) clearTimeout(retryTimer);
      await listener.unlisten();
      await running;
    },
  };
}
