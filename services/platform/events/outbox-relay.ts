import { jetstream } from "@nats-io/jetstream";
import { ATTR_MESSAGING_MESSAGE_ID } from "@opentelemetry/semantic-conventions/incubating";
import type { Sql } from "postgres";
import { exponentialBackoff, type ExponentialBackoffOptions } from "../process/backoff.js";
import type { Logger } from "../process/logger.js";
import { eventFamilies, type EventFamily } from "./catalogue.js";
import { publishEvent } from "./cloudevents.js";
import { isNatsConnected, type NatsConnection } from "./nats-connection.js";
import { outboxGauges } from "../metrics/event-metrics.js";
import { contextFromTraceparent, isTracing, SpanKind, traceparentOf, withSpan } from "../telemetry/index.js";
import { messagingAttributes, orderIdAttribute } from "./messaging-spans.js";

/** Where the relay reads and publishes, and its tuning; defaults suit production, tests shorten them. */
export interface OutboxRelayOptions {
  /** The service's database, holding the platform outbox table (platform/db outboxTable). */
  sql: Sql;
  nc: NatsConnection;
  logger: Logger;
  /** The family the events belong to; its catalogue source is every event's CloudEvents source. */
  family: EventFamily;
  /** Events go to `${subjectPrefix}.${event_name}`. */
  subjectPrefix: string;
  /** The channel the service's outbox trigger NOTIFYs on insert. */
  channel: string;
  /** Rows claimed and published per transaction. Default 200. */
  batchSize?: number;
  /** Safety-net poll when no NOTIFY arrives (lost LISTEN connection, NATS back after an outage). Default 1 s. */
  pollIntervalMs?: number;
  /** How long to wait for each PubAck. Default 2 s. */
  publishTimeoutMs?: number;
  /** Published rows older than this are deleted. Default 1 h. */
  retentionMs?: number;
  /** Failed publishes of one row before it is marked failed and never tried again (OUTBOX_MAX_ATTEMPTS). Default 50. */
  maxAttempts?: number;
  /**
   * Delay before a row that failed is tried again, per attempt. Default 200 ms doubling to 30 s: the
   * cap stays well inside the streams' 2-minute duplicate window, so a publish whose PubAck was lost
   * is retried while JetStream still drops the copy.
   */
  retryBackoff?: ExponentialBackoffOptions;
}

/** A running relay. */
export interface OutboxRelay {
  /** Rows still to publish right now, failed ones not counted (the outbox backlog gauge). */
  backlog(): Promise<number>;
  /** Rows the relays gave up on (failed_at set), waiting for an operator. */
  failed(): Promise<number>;
  /** Seconds since the oldest row still to publish was committed; 0 when there is none (the outbox age gauge). */
  oldestAgeSeconds(): Promise<number>;
  /** Publishes everything publishable now; resolves when a pass found nothing more to publish. */
  drainNow(): Promise<void>;
  stop(): Promise<void>;
}

interface ClaimedRow {
  id: string;
  aggregate_id: string;
  event_name: string;
  event_type: string;
  payload: Buffer;
  created_at: string;
  traceparent: string | null;
  attempts: number;
}

/**
 * Publishes committed outbox rows to JetStream, each order's events in the order they were committed.
 *
 * A pass claims, FOR UPDATE SKIP LOCKED, only rows that head their order: the oldest (by seq) row of
 * the aggregate that is neither published nor failed. An order's second event is therefore never
 * claimable while its first is unpublished, whichever relay replica holds the first and whatever
 * became of its publish, so neither a second relay nor a partial failure can reorder an order's
 * events. The batch is published pipelined with Nats-Msg-Id = event id, and the acked rows are marked
 * in the same transaction; a crash after publishing but before commit re-publishes the batch, which
 * JetStream drops as duplicates.
 *
 * A row whose publish fails is retried on its own backoff (next_attempt_at), holding back only the
 * later events of its own order; after maxAttempts it is marked failed (failed_at, last_error),
 * logged at error level and skipped from then on, and its order's later events flow again. While
 * NATS is disconnected no pass runs, so an outage costs no row any attempts.
 */
export async function startOutboxRelay(options: OutboxRelayOptions): Promise<OutboxRelay> {
  const { sql, nc, logger } = options;
  const js = jetstream(nc);
  const log = logger.child({ component: "outbox-relay", family: options.family });
  const batchSize = options.batchSize ?? 200;
  const publishTimeoutMs = options.publishTimeoutMs ?? 2000;
  const retentionMs = options.retentionMs ?? 60 * 60_000;
  const maxAttempts = options.maxAttempts ?? 50;
  const rowBackoff = exponentialBackoff(options.retryBackoff ?? { initialMs: 200, maxMs: 30_000 });
  // A whole pass failing (database unreachable) backs the relay off as a whole.
  const passBackoff = exponentialBackoff({ initialMs: 100, maxMs: 5000 });
  const source = eventFamilies[options.family].source;
  let stopped = false;
  let running: Promise<void> | undefined;
  let again = false;
  let passFailures = 0;
  let retryTimer: NodeJS.Timeout | undefined;

  /** Claims, publishes and marks one batch. */
  const pass = () =>
    sql.begin(async (tx) => {
      const rows = await tx<ClaimedRow[]>`
        select o.id, o.aggregate_id, o.event_name, o.event_type, o.payload, o.created_at::text, o.traceparent, o.attempts
        from outbox o
        where o.published_at is null and o.failed_at is null
          and (o.next_attempt_at is null or o.next_attempt_at <= now())
          -- The head of its order. A correlated min(), not NOT EXISTS: the planner turns NOT EXISTS into
          -- an anti join, which on stale statistics (a fresh table, or one analysed while nearly empty, as
          -- an outbox often is) scans the whole pending index once per candidate row: ~1 s per pass at a
          -- 20,000-row backlog. The subquery is always one index probe per row.
          and o.seq = (
            select min(head.seq) from outbox head
            where head.aggregate_id = o.aggregate_id and head.published_at is null and head.failed_at is null)
        order by o.seq
        limit ${batchSize}
        for update of o skip locked`;
      if (rows.length === 0) return { claimed: 0, published: 0, retryInMs: undefined };
      // Pipelined: one connection keeps publish order, and waiting for all acks at once costs one round trip.
      const results = await Promise.allSettled(rows.map(publishRow));
      const published = rows.filter((_, i) => results[i]!.status === "fulfilled").map((r) => r.id);
      if (published.length > 0) await tx`update outbox set published_at = now(), attempts = attempts + 1 where id = any(${published}::uuid[])`;
      const failures = rows.flatMap((row, i) => {
        const result = results[i]!;
        return result.status === "rejected" ? [{ row, reason: errorText(result.reason), delayMs: rowBackoff(row.attempts + 1) }] : [];
      });
      if (failures.length === 0) return { claimed: rows.length, published: published.length, retryInMs: undefined };
      const marked = await tx<Array<{ id: string; aggregate_id: string; event_name: string; attempts: number; last_error: string; failed: boolean }>>`
        update outbox o
        set attempts = o.attempts + 1,
            last_error = f.reason,
            next_attempt_at = now() + make_interval(secs => f.delay_ms / 1000.0),
            failed_at = case when o.attempts + 1 >= ${maxAttempts} then now() end
        from unnest(${failures.map((f) => f.row.id)}::uuid[], ${failures.map((f) => f.reason)}::text[], ${failures.map((f) => f.delayMs)}::float8[])
             as f(id, reason, delay_ms)
        where o.id = f.id
        returning o.id, o.aggregate_id, o.event_name, o.attempts, o.last_error, o.failed_at is not null as failed`;
      for (const row of marked.filter((m) => m.failed)) {
        log.error(
          { eventId: row.id, orderId: row.aggregate_id, event: row.event_name, attempts: row.attempts, err: row.last_error },
          `outbox event ${row.id} marked failed after ${row.attempts} attempts; it will not be published (the order's later events go on)`,
        );
      }
      log.warn({ failed: failures.length, reason: failures[0]!.reason }, "outbox publish failed; those rows retry with backoff");
      const retrying = failures.filter((f) => !marked.find((m) => m.id === f.row.id)?.failed);
      const retryInMs = retrying.length > 0 ? Math.min(...retrying.map((f) => f.delayMs)) : undefined;
      return { claimed: rows.length, published: published.length, retryInMs };
    });

  /**
   * Publishes one claimed row. While tracing, as a PRODUCER span "send <subject>" that continues the
   * trace the row's traceparent names (a new trace when it has none), and whose own context the message
   * carries, so each consumer's span is its child. Otherwise the stored traceparent goes out as it is.
   */
  const publishRow = (row: ClaimedRow) => {
    const subject = `${options.subjectPrefix}.${row.event_name}`;
    // Checked first, so a relay that does not trace builds no span options per row.
    const start = isTracing()
      ? {
          kind: SpanKind.PRODUCER,
          parent: contextFromTraceparent(row.traceparent),
          attributes: { ...messagingAttributes("send", subject), [ATTR_MESSAGING_MESSAGE_ID]: row.id, [orderIdAttribute]: row.aggregate_id },
        }
      : {};
    return withSpan(`send ${subject}`, start, (span) =>
      publishEvent(js, {
        subject,
        eventId: row.id,
        type: row.event_type,
        source,
        time: new Date(row.created_at),
        payload: row.payload,
        // Inside the span, the active context is the producer span's.
        traceparent: span ? traceparentOf() : (row.traceparent ?? undefined),
        timeoutMs: publishTimeoutMs,
      }),
    );
  };

  const drain = async () => {
    do {
      again = false;
      // A disconnected client would only time out every publish and spend the rows' attempts on the
      // outage; the poll (or the next NOTIFY) tries again once NATS is back.
      if (!isNatsConnected(nc)) return;
      try {
        const { claimed, published, retryInMs } = await pass();
        passFailures = 0;
        if (retryInMs !== undefined) scheduleRetry(retryInMs);
        // Publishing an order's head makes its next event publishable; a full batch may have left more.
        if (published > 0 || claimed === batchSize) again = true;
      } catch (err) {
        passFailures++;
        log.warn({ err: errorText(err) }, "outbox pass failed; will retry");
        scheduleRetry(passBackoff(passFailures));
        return;
      }
    } while (again && !stopped);
  };

  let retryAt = Infinity;
  /** Wakes the relay after delayMs, unless an earlier wake-up is already due. */
  const scheduleRetry = (delayMs: number) => {
    if (stopped || Date.now() + delayMs >= retryAt) return;
    clearTimeout(retryTimer);
    retryAt = Date.now() + delayMs;
    retryTimer = setTimeout(() => {
      retryTimer = undefined;
      retryAt = Infinity;
      void wake();
    }, delayMs);
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

  const listener = await sql.listen(options.channel, () => void wake(), () => void wake());
  const poll = setInterval(() => void wake(), options.pollIntervalMs ?? 1000);
  const prune = setInterval(() => {
    sql`delete from outbox where published_at < now() - make_interval(secs => ${retentionMs / 1000})`.catch((err: unknown) =>
      log.warn({ err: errorText(err) }, "outbox prune failed"),
    );
  }, Math.min(retentionMs, 60_000));
  const count = async (where: "pending" | "failed") =>
    Number(
      (where === "pending"
        ? await sql`select count(*)::int as n from outbox where published_at is null and failed_at is null`
        : await sql`select count(*)::int as n from outbox where failed_at is not null`)[0]!.n,
    );
  const report = setInterval(() => {
    Promise.all([count("pending"), count("failed")]).then(
      ([outboxBacklog, outboxFailed]) => (outboxBacklog > 0 || outboxFailed > 0 ? log.info({ outboxBacklog, outboxFailed }, "outbox backlog") : undefined),
      () => undefined,
    );
  }, 10_000);
  for (const t of [poll, prune, report]) t.unref();
  const oldestAgeSeconds = async () =>
    Number(
      (await sql`select coalesce(extract(epoch from now() - min(created_at)), 0)::float8 as age from outbox where published_at is null and failed_at is null`)[0]!.age,
    );
  // One query for the three gauges, read only when Prometheus scrapes.
  const unreport = outboxGauges.add({ family: options.family }, async () => {
    const [row] = await sql<Array<{ backlog: number; failed: number; age: number }>>`
      select count(*) filter (where published_at is null and failed_at is null)::int as backlog,
             count(*) filter (where failed_at is not null)::int as failed,
             coalesce(extract(epoch from now() - min(created_at) filter (where published_at is null and failed_at is null)), 0)::float8 as age
      from outbox where published_at is null`;
    return { backlog: Number(row!.backlog), failed: Number(row!.failed), oldestAgeSeconds: Number(row!.age) };
  });
  log.info({ subjectPrefix: options.subjectPrefix, channel: options.channel, maxAttempts }, "outbox relay started");

  return {
    backlog: () => count("pending"),
    failed: () => count("failed"),
    oldestAgeSeconds,
    async drainNow() {
      await wake();
      while (running) await running;
    },
    async stop() {
      stopped = true;
      unreport();
      for (const t of [poll, prune, report]) clearInterval(t);
      if (retryTimer) clearTimeout(retryTimer);
      await listener.unlisten();
      await running;
    },
  };
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
