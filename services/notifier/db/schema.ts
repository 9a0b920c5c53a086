import { index, integer, pgEnum, pgTable, text, timestamp, uuid } from "drizzle-orm/pg-core";

/** Which milestone of an order an email announces (placed and confirmed, shipped, delivered, cancelled). */
export const notificationKind = pgEnum("notification_kind", ["created", "cancelled", "shipped", "delivered"]);

/** pending: claimed, not (yet) accepted by SMTP; sent: accepted; failed: dead-lettered, an operator's turn. */
export const notificationStatus = pgEnum("notification_status", ["pending", "sent", "failed"]);

/** One email per order event: the unique event_id is what makes a redelivered event send nothing. */
export const notifications = pgTable(
  "notifications",
  {
    id: uuid("id").primaryKey().defaultRandom(),
    eventId: uuid("event_id").notNull().unique(),
    orderId: uuid("order_id").notNull(),
    kind: notificationKind("kind").notNull(),
    recipient: text("recipient").notNull(),
    subject: text("subject").notNull(),
    status: notificationStatus("status").notNull().default("pending"),
    /** Deliveries of the event that tried to send (1 on the first). */
    attempts: integer("attempts").notNull().default(0),
    /** Message-ID header of the sent email (derived from the event id, so resends are recognisable). */
    messageId: text("message_id"),
    sentAt: timestamp("sent_at", { withTimezone: true, precision: 6 }),
    lastError: text("last_error"),
    createdAt: timestamp("created_at", { withTimezone: true, precision: 6 }).notNull().defaultNow(),
    updatedAt: timestamp("updated_at", { withTimezone: true, precision: 6 }).notNull().defaultNow(),
  },
  (t) => [index("notifications_order_id_idx").on(t.orderId)],
);

export type NotificationRow = typeof notifications.$inferSelect;
export type NotificationKind = NotificationRow["kind"];
