import { sql } from "drizzle-orm";
import { bigint, index, jsonb, pgEnum, pgTable, text, timestamp, uuid } from "drizzle-orm/pg-core";
import { outboxTable } from "../../platform/db/index.js";

/** Life of a shipment; mirrors shipping.v1.ShipmentStatus. */
export const shipmentStatus = pgEnum("shipment_status", ["pending", "picked_up", "in_transit", "delivered", "cancelled"]);

/** A packing-list line as stored in shipments.items. */
export interface StoredShipmentItem {
  sku: string;
  quantity: number;
}

/** A destination address as stored in shipments.address. */
export interface StoredAddress {
  name: string;
  line1: string;
  line2: string;
  city: string;
  postalCode: string;
  country: string;
}

/** One shipment per order: the unique order_id makes CreateShipment idempotent without a read-then-write race. */
export const shipments = pgTable(
  "shipments",
  {
    id: uuid("id").primaryKey().defaultRandom(),
    orderId: uuid("order_id").notNull().unique(),
    // The order's owner as orders' dispatch reported it; "" for shipments created before it was sent
    // (only the orders service and admins may read those) and for cancelled-before-created tombstones.
    customerId: text("customer_id").notNull().default(""),
    status: shipmentStatus("status").notNull().default("pending"),
    carrier: text("carrier").notNull(),
    trackingNumber: text("tracking_number").notNull(),
    address: jsonb("address").$type<StoredAddress>().notNull(),
    items: jsonb("items").$type<StoredShipmentItem[]>().notNull(),
    createdAt: timestamp("created_at", { withTimezone: true, precision: 6 }).notNull().defaultNow(),
    updatedAt: timestamp("updated_at", { withTimezone: true, precision: 6 }).notNull().defaultNow(),
    /** 1 when created, one more with every change; events carry it so readers can order states. */
    version: bigint("version", { mode: "bigint" }).notNull().default(sql`1`),
    /** When the simulated carrier takes this shipment's next step; null: no step planned. */
    carrierDueAt: timestamp("carrier_due_at", { withTimezone: true, precision: 3 }),
  },
  (t) => [index("shipments_carrier_due").on(t.carrierDueAt).where(sql`${t.carrierDueAt} is not null`)],
);

/** Shipping's transactional outbox (the platform's one definition). */
export const outbox = outboxTable();

/** The channel the outbox trigger NOTIFYs on every insert (migration 0002_lifecycle); the relay LISTENs to it. */
export const outboxChannel = "shipping_outbox";

export type ShipmentRow = typeof shipments.$inferSelect;
