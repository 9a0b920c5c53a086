import { eq, sql } from "drizzle-orm";
import type { PostgresJsDatabase } from "drizzle-orm/postgres-js";
import type { Sql } from "postgres";
import * as schema from "./db/schema.js";
import { notifications, type NotificationKind, type NotificationRow } from "./db/schema.js";

/** The email an event asks for, as recorded before sending. */
export interface NotificationClaim {
  eventId: string;
  orderId: string;
  kind: NotificationKind;
  recipient: string;
  subject: string;
}

/** What sendOnce did. */
export type SendOutcome =
  | { kind: "sent"; row: NotificationRow }
  /** An earlier delivery of the same event already got the email accepted; nothing was sent. */
  | { kind: "duplicate"; row: NotificationRow }
  /** The send failed; the error is recorded and the event should be retried later. */
  | { kind: "failed"; row: NotificationRow; error: unknown };

/** The notifier database: one row per order event, claimed before and marked after the send. */
export class NotificationStore {
  constructor(
    private readonly db: PostgresJsDatabase<typeof schema>,
    /** The postgres.js pool under db, for the prepared statements of the hot path. */
    private readonly sql: Sql,
  ) {}

  /**
   * Claims the event id and sends at most once per event; sendBatch with one claim (see there).
   */
  async sendOnce(claim: NotificationClaim, send: () => Promise<{ messageId: string }>): Promise<SendOutcome> {
    const [outcome] = await this.sendBatch([claim], send);
    return outcome!;
  }

  /**
   * Claims a batch of events in one statement, sends each email at most once per event id, and marks
   * the batch in one statement, all in one transaction. The claimed rows stay locked while the emails
   * go out, so a concurrent duplicate delivery (AckWait expired, another replica) waits and then sees
   * "sent" instead of sending a second email. One event twice in the batch is claimed and sent once;
   * the second copy gets the first one's outcome ("duplicate" once it is sent). `send` runs for every
   * email at once: the caller bounds how many really go out together.
   *
   * What is left is at-least-once: if the process dies after SMTP accepted an email but before the
   * commit below, its row is still "pending" and the redelivered event sends again. That window is
   * the batch's sending time, for every email of the batch accepted so far (one email when batches
   * hold one event). The commit follows the last send directly, and send must use a Message-ID
   * derived from the event id so the receiving side can recognise such a resend.
   */
  async sendBatch(claims: readonly NotificationClaim[], send: (claim: NotificationClaim) => Promise<{ messageId: string }>): Promise<SendOutcome[]> {
    if (claims.length === 0) return [];
    // Claimed in event-id order: two replicas claiming overlapping batches lock rows in the same order
    // (one waits for the other) instead of deadlocking.
    const unique = [...new Map(claims.map((c) => [c.eventId, c])).values()].sort((a, b) => (a.eventId < b.eventId ? -1 : 1));
    // postgres.js tagged statements are prepared once per connection; drizzle's builder would re-send,
    // re-parse and re-plan the same statements for every batch (a measurable share of notifier CPU).
    const byEvent = await this.sql.begin(async (tx) => {
      const claimed = await tx<RawNotification[]>`
        insert into notifications (event_id, order_id, kind, recipient, subject, attempts)
        select event_id, order_id, kind, recipient, subject, 1
        from unnest(${unique.map((c) => c.eventId)}::uuid[], ${unique.map((c) => c.orderId)}::uuid[],
                    ${unique.map((c) => c.kind)}::text[]::notification_kind[], ${unique.map((c) => c.recipient)}::text[],
                    ${unique.map((c) => c.subject)}::text[]) as claim(event_id, order_id, kind, recipient, subject)
        order by event_id
        on conflict (event_id) do update set
          -- A sent row keeps its count: it records the deliveries that tried to send, not the duplicates.
          attempts = case when notifications.status = 'sent' then notifications.attempts else notifications.attempts + 1 end,
          updated_at = now()
        returning *`;
      const rows = new Map(claimed.map((r) => [r.event_id, toRow(r)]));
      const outcomes = new Map<string, SendOutcome>();
      const toSend: Array<{ claim: NotificationClaim; row: NotificationRow }> = [];
      for (const claim of unique) {
        const row = rows.get(claim.eventId);
        if (!row) throw new Error(`claim of event ${claim.eventId} returned no row`);
        if (row.status === "sent") outcomes.set(claim.eventId, { kind: "duplicate", row });
        else toSend.push({ claim, row });
      }
      const results = await Promise.allSettled(toSend.map(({ claim }) => send(claim)));
      const sent = toSend.flatMap(({ row }, i) => (results[i]!.status === "fulfilled" ? [{ id: row.id, messageId: (results[i] as PromiseFulfilledResult<{ messageId: string }>).value.messageId }] : []));
      const failed = toSend.flatMap(({ row }, i) => (results[i]!.status === "rejected" ? [{ id: row.id, error: (results[i] as PromiseRejectedResult).reason as unknown }] : []));
      if (sent.length > 0) {
        const marked = await tx<RawNotification[]>`
          update notifications as n set status = 'sent', message_id = v.message_id, sent_at = now(), last_error = null, updated_at = now()
          from unnest(${sent.map((s) => s.id)}::uuid[], ${sent.map((s) => s.messageId)}::text[]) as v(id, message_id)
          where n.id = v.id
          returning n.*`;
        for (const r of marked) outcomes.set(r.event_id, { kind: "sent", row: toRow(r) });
      }
      if (failed.length > 0) {
        const marked = await tx<RawNotification[]>`
          update notifications as n set last_error = v.error, updated_at = now()
          from unnest(${failed.map((f) => f.id)}::uuid[], ${failed.map((f) => errorText(f.error))}::text[]) as v(id, error)
          where n.id = v.id
          returning n.*`;
        const errors = new Map(failed.map((f) => [f.id, f.error]));
        for (const r of marked) outcomes.set(r.event_id, { kind: "failed", row: toRow(r), error: errors.get(r.id) });
      }
      return outcomes;
    });
    const seen = new Set<string>();
    return claims.map((claim) => {
      const outcome = byEvent.get(claim.eventId);
      if (!outcome) throw new Error(`no outcome for event ${claim.eventId}`);
      // A second copy in the batch: its email went out (or failed) with the first one.
      const copy = seen.has(claim.eventId);
      seen.add(claim.eventId);
      return copy && outcome.kind === "sent" ? { kind: "duplicate", row: outcome.row } : outcome;
    });
  }

  /** Marks an event's notification as given up (dead-lettered), unless it was sent after all. */
  async markFailed(eventId: string, reason: string): Promise<void> {
    await this.db
      .update(notifications)
      .set({ status: "failed", lastError: reason, updatedAt: sql`now()` })
      .where(sql`${notifications.eventId} = ${eventId} and ${notifications.status} <> 'sent'`);
  }

  /** The notification of an event, if any. */
  async get(eventId: string): Promise<NotificationRow | undefined> {
    return (await this.db.select().from(notifications).where(eq(notifications.eventId, eventId)))[0];
  }

  /** Every notification of an order, oldest first. */
  async listByOrder(orderId: string): Promise<NotificationRow[]> {
    return this.db.select().from(notifications).where(eq(notifications.orderId, orderId)).orderBy(notifications.createdAt);
  }
}

/** A notifications row as postgres.js returns it under drizzle (timestamps stay text; see order-store.ts). */
interface RawNotification {
  id: string;
  event_id: string;
  order_id: string;
  kind: NotificationKind;
  recipient: string;
  subject: string;
  status: NotificationRow["status"];
  attempts: number;
  message_id: string | null;
  sent_at: string | null;
  last_error: string | null;
  created_at: string;
  updated_at: string;
}

/** The same NotificationRow drizzle's select would give (its timestamp mapping is new Date(text)). */
function toRow(r: RawNotification): NotificationRow {
  return {
    id: r.id,
    eventId: r.event_id,
    orderId: r.order_id,
    kind: r.kind,
    recipient: r.recipient,
    subject: r.subject,
    status: r.status,
    attempts: r.attempts,
    messageId: r.message_id,
    sentAt: r.sent_at === null ? null : new Date(r.sent_at),
    lastError: r.last_error,
    createdAt: new Date(r.created_at),
    updatedAt: new Date(r.updated_at),
  };
}

function errorText(err: unknown): string {
  return (err instanceof Error ? err.message : String(err)).slice(0, 1000);
}
