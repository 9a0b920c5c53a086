import { randomInt } from "node:crypto";
import { eq, sql } from "drizzle-orm";
import type { PostgresJsDatabase } from "drizzle-orm/postgres-js";
import * as schema from "./db/schema.js";
import { shipments, type ShipmentRow, type StoredAddress, type StoredShipmentItem } from "./db/schema.js";

/** What CreateShipment stores. */
export interface NewShipment {
  orderId: string;
  /** Owner of the order; "" (the default) when the caller did not say. */
  customerId?: string;
  address: StoredAddress;
  items: StoredShipmentItem[];
}

/** Why a cancellation did not happen. */
export type CancelOutcome = { kind: "cancelled"; row: ShipmentRow } | { kind: "not-found" } | { kind: "not-cancellable"; row: ShipmentRow };

/** The shipping database behind ShippingService; hot-path statements are prepared once. */
export class ShipmentStore {
  private readonly insertOnce;
  private readonly byId;
  private readonly byOrder;
  private readonly cancelPending;

  constructor(private readonly db: PostgresJsDatabase<typeof schema>) {
    this.insertOnce = db
      .insert(shipments)
      .values({
        orderId: sql.placeholder("orderId"),
        customerId: sql.placeholder("customerId"),
        carrier: sql.placeholder("carrier"),
        trackingNumber: sql.placeholder("trackingNumber"),
        address: sql.placeholder("address"),
        items: sql.placeholder("items"),
      })
      .onConflictDoNothing({ target: shipments.orderId })
      .returning()
      .prepare("shipment_insert_once");
    this.byId = db.select().from(shipments).where(eq(shipments.id, sql.placeholder("id"))).prepare("shipment_by_id");
    this.byOrder = db.select().from(shipments).where(eq(shipments.orderId, sql.placeholder("orderId"))).prepare("shipment_by_order");
    this.cancelPending = db
      .update(shipments)
      .set({ status: "cancelled", updatedAt: sql`now()` })
      .where(sql`${shipments.id} = ${sql.placeholder("id")} and ${shipments.status} = 'pending'`)
      .returning()
      .prepare("shipment_cancel_pending");
  }

  /** Creates the order's shipment, or returns the one it already has (the unique order_id decides). */
  async createOnce(input: NewShipment): Promise<{ row: ShipmentRow; created: boolean }> {
    const [inserted] = await this.insertOnce.execute({
      orderId: input.orderId,
      customerId: input.customerId ?? "",
      carrier: "DHL",
      trackingNumber: trackingNumber(),
      address: input.address,
      items: input.items,
    });
    if (inserted) return { row: inserted, created: true };
    const [existing] = await this.byOrder.execute({ orderId: input.orderId });
    if (!existing) throw new Error(`shipment of order ${input.orderId} vanished after a conflicting insert`);
    return { row: existing, created: false };
  }

  /** The shipment with this id, if any. */
  async get(id: string): Promise<ShipmentRow | undefined> {
    return (await this.byId.execute({ id }))[0];
  }

  /** The shipment of this order, if any. */
  async getByOrder(orderId: string): Promise<ShipmentRow | undefined> {
    return (await this.byOrder.execute({ orderId }))[0];
  }

  /** Cancels a pending shipment; a cancelled one stays as it is. */
  async cancel(id: string): Promise<CancelOutcome> {
    const [cancelled] = await this.cancelPending.execute({ id });
    if (cancelled) return { kind: "cancelled", row: cancelled };
    const row = await this.get(id);
    if (!row) return { kind: "not-found" };
    return row.status === "cancelled" ? { kind: "cancelled", row } : { kind: "not-cancellable", row };
  }

  /** Moves a shipment along (the carrier's side; used by operators and tests). */
  async setStatus(id: string, status: ShipmentRow["status"]): Promise<void> {
    await this.db.update(shipments).set({ status, updatedAt: sql`now()` }).where(eq(shipments.id, id));
  }
}

function trackingNumber(): string {
  return `OM${randomInt(10 ** 9, 10 ** 10)}`;
}
