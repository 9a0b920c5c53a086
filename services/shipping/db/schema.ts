import { jsonb, pgEnum, pgTable, text, timestamp, uuid } from "drizzle-orm/pg-core";

/** Life of a shipment; mirrors shipping.v1.ShipmentStatus. */
export const shipmentStatus = pgEnum("shipment_status", ["pending", "in_transit", "delivered", "cancelled"]);

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
export const shipments = pgTable("shipments", {
  id: uuid("id").primaryKey().defaultRandom(),
  orderId: uuid("order_id").notNull().unique(),
  // The order's owner as orders' dispatch reported it; "" for shipments created before it was sent
  // (only the orders service and admins may read those).
  customerId: text("customer_id").notNull().default(""),
  status: shipmentStatus("status").notNull().default("pending"),
  carrier: text("carrier").notNull(),
  trackingNumber: text("tracking_number").notNull(),
  address: jsonb("address").$type<StoredAddress>().notNull(),
  items: jsonb("items").$type<StoredShipmentItem[]>().notNull(),
  createdAt: timestamp("created_at", { withTimezone: true, precision: 6 }).notNull().defaultNow(),
  updatedAt: timestamp("updated_at", { withTimezone: true, precision: 6 }).notNull().defaultNow(),
});

export type ShipmentRow = typeof shipments.$inferSelect;
