import { sql } from "drizzle-orm";
import { outboxTable } from "../../platform/db/index.js";
import { bigint, index, integer, jsonb, pgEnum, pgTable, primaryKey, text, timestamp, unique, uuid } from "drizzle-orm/pg-core";

/** Life of an order; mirrors orders.v1.OrderStatus. */
export const orderStatus = pgEnum("order_status", ["pending", "shipment_requested", "cancelled", "dispatch_failed", "cancelling", "shipped", "delivered"]);

/** Life of a shipment as shipping reports it in its events; mirrors shipping.v1.ShipmentStatus. */
export const shipmentStatus = pgEnum("shipment_status", ["pending", "picked_up", "in_transit", "delivered", "cancelled"]);

/** A shipping address as stored in orders.shipping_address. */
export interface StoredAddress {
  name: string;
  line1: string;
  line2: string;
  city: string;
  postalCode: string;
  country: string;
}

/** Orders. Ids and timestamps are assigned by the service so the outbox event can carry the exact row. */
export const orders = pgTable(
  "orders",
  {
    id: uuid("id").primaryKey(),
    customerId: text("customer_id").notNull(),
    customerEmail: text("customer_email").notNull(),
    currency: text("currency").notNull(),
    totalCents: bigint("total_cents", { mode: "bigint" }).notNull(),
    status: orderStatus("status").notNull().default("pending"),
    shippingAddress: jsonb("shipping_address").$type<StoredAddress>().notNull(),
    // Unique per customer (see below), so two concurrent CreateOrder calls with one request_id cannot
    // both insert, and one customer's request ids never collide with, or reveal, another's orders.
    requestId: text("request_id"),
    // Fingerprint of the request payload, to tell a retry from a different order reusing a request_id.
    requestHash: text("request_hash"),
    cancelReason: text("cancel_reason").notNull().default(""),
    shipmentId: uuid("shipment_id"),
    // Revision of the order (Order.version): 1 when placed, one more with every change.
    version: bigint("version", { mode: "bigint" }).notNull().default(sql`1`),
    // The shipment as shipping's events last reported it (the projection GetOrder answers from); null
    // status until orders learns of a shipment.
    shipmentStatus: shipmentStatus("shipment_status"),
    shipmentCarrier: text("shipment_carrier").notNull().default(""),
    shipmentTrackingNumber: text("shipment_tracking_number").notNull().default(""),
    shipmentUpdatedAt: timestamp("shipment_updated_at", { withTimezone: true, precision: 3 }),
    // Shipment.version of the projection: an event is applied only when its shipment is newer.
    shipmentVersion: bigint("shipment_version", { mode: "bigint" }).notNull().default(sql`0`),
    createdAt: timestamp("created_at", { withTimezone: true, precision: 3 }).notNull(),
    updatedAt: timestamp("updated_at", { withTimezone: true, precision: 3 }).notNull(),
  },
  (t) => [
    index("orders_customer_keyset").on(t.customerId, t.createdAt.desc(), t.id.desc()),
    unique("orders_customer_request_id_unique").on(t.customerId, t.requestId),
  ],
);

/** The lines of an order, in the order the customer gave them. */
export const lineItems = pgTable(
  "line_items",
  {
    orderId: uuid("order_id")
      .notNull()
      .references(() => orders.id, { onDelete: "cascade" }),
    position: integer("position").notNull(),
    sku: text("sku").notNull(),
    quantity: integer("quantity").notNull(),
    unitPriceCents: bigint("unit_price_cents", { mode: "bigint" }).notNull(),
  },
  (t) => [primaryKey({ columns: [t.orderId, t.position] })],
);

/** Orders' transactional outbox (the platform's one definition). */
export const outbox = outboxTable();

/** The channel the outbox trigger NOTIFYs on every insert (migration 0001_outbox_notify); the relay LISTENs to it. */
export const outboxChannel = "orders_outbox";

export type OrderRow = typeof orders.$inferSelect;
export type LineItemRow = typeof lineItems.$inferSelect;
export type OutboxRow = typeof outbox.$inferSelect;
