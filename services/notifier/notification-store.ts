import { eq, sql } from "drizzle-orm";
import type { PostgresJsDatabase } from "drizzle-orm/postgres-js";
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
  constructor(private readonly db: PostgresJsDatabase<typeof schema>) {}

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
    return this.db.transaction(async (tx) => {
      const [row] = await tx
        .insert(notifications)
        .values({ ...claim, attempts: 1 })
        .onConflictDoUpdate({
          target: notifications.eventId,
          // A sent row keeps its count: it records the deliveries that tried to send, not the duplicates.
          set: {
            attempts: sql`case when ${notifications.status} = 'sent' then ${notifications.attempts} else ${notifications.attempts} + 1 end`,
            updatedAt: sql`now()`,
          },
        })
        .returning();
      if (!row) throw new Error(`claim of event ${claim.eventId} returned no row`);
      if (row.status === "sent") return { kind: "duplicate", row };
      let messageId: string;
      try {
        ({ messageId } = await send());
      } catch (error) {
        const [failed] = await tx
          .update(notifications)
          .set({ lastError: errorText(error), updatedAt: sql`now()` })
          .where(eq(notifications.id, row.id))
          .returning();
        return { kind: "failed", row: failed ?? row, error };
      }
      const [sent] = await tx
        .update(notifications)
        .set({ status: "sent", messageId, sentAt: sql`now()`, lastError: null, updatedAt: sql`now()` })
        .where(eq(notifications.id, row.id))
        .returning();
      return { kind: "sent", row: sent ?? row };
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

function errorText(err: unknown): string {
  return (err instanceof Error ? err.message : String(err)).slice(0, 1000);
}
