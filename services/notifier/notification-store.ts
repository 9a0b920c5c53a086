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
   * Claims the event id and sends at most once per event. The claim row stays locked (one open
   * transaction) while send runs, so a concurrent duplicate delivery (AckWait expired, another
   * replica) waits and then sees "sent" instead of sending a second email.
   *
   * What is left is at-least-once: if the process dies after SMTP accepted the email but before
   * the commit below, the row is still "pending" and the redelivered event sends again. The commit
   * follows the send directly to keep that window to one round trip, and send must use a Message-ID
   * derived from the event id so the receiving side can recognise such a resend.
   */
  async sendOnce(claim: NotificationClaim, send: () => Promise<{ messageId: string }>): Promise<SendOutcome> {
    // postgres.js tagged statements are prepared once per connection; drizzle's builder would re-send,
    // re-parse and re-plan the same two statements for every email (a measurable share of notifier CPU).
    return this.sql.begin(async (tx) => {
      const [claimed] = await tx<RawNotification[]>`
        insert into notifications (event_id, order_id, kind, recipient, subject, attempts)
        values (${claim.eventId}, ${claim.orderId}, ${claim.kind}, ${claim.recipient}, ${claim.subject}, 1)
        on conflict (event_id) do update set
          -- A sent row keeps its count: it records the deliveries that tried to send, not the duplicates.
          attempts = case when notifications.status = 'sent' then notifications.attempts else notifications.attempts + 1 end,
          updated_at = now()
        returning *`;
      if (!claimed) throw new Error(`claim of event ${claim.eventId} returned no row`);
      const row = toRow(claimed);
      if (row.status === "sent") return { kind: "duplicate", row };
      let messageId: string;
      try {
        ({ messageId } = await send());
      } catch (error) {
        const [failed] = await tx<RawNotification[]>`
          update notifications set last_error = ${errorText(error)}, updated_at = now() where id = ${row.id} returning *`;
        return { kind: "failed", row: failed ? toRow(failed) : row, error };
      }
      const [sent] = await tx<RawNotification[]>`
        update notifications set status = 'sent', message_id = ${messageId}, sent_at = now(), last_error = null, updated_at = now()
        where id = ${row.id} returning *`;
      return { kind: "sent", row: sent ? toRow(sent) : row };
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
