import { randomInt, randomUUID } from "node:crypto";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { asc, eq, isNotNull, lte, min, sql } from "drizzle-orm";
import type { PostgresJsDatabase } from "drizzle-orm/postgres-js";
import { insertOutboxEvents } from "../platform/db/index.js";
import { withSpan } from "../platform/telemetry/index.js";
import { catalogue, encodeEvent, type EncodedEvent } from "../platform/events/index.js";
import type { CarrierSchedule } from "./carrier-simulator.js";
import * as schema from "./db/schema.js";
import { outbox, shipments, type ShipmentRow, type StoredAddress, type StoredShipmentItem } from "./db/schema.js";
import { statusToProto, toProto } from "./shipment-mapping.js";
import { nextCarrierStep, planTransition, type ShipmentState } from "./shipment-transitions.js";

/** What CreateShipment stores. */
export interface NewShipment {
  orderId: string;
  /** Owner of the order; "" (the default) when the caller did not say. */
  customerId?: string;
  address: StoredAddress;
  items: StoredShipmentItem[];
}

/** A carrier's report beyond the status itself. */
export interface StatusReport {
  /** New tracking number; empty or undefined keeps the current one. */
  trackingNumber?: string | undefined;
  /** When the carrier says it happened (the event's occur_time); default now. */
  occurTime?: Date | undefined;
}

/** Which shipment to cancel: by its id, or by its order's id (which works before the shipment exists). */
export type CancelTarget = { id: string } | { orderId: string };

type Tx = Parameters<Parameters<PostgresJsDatabase<typeof schema>["transaction"]>[0]>[0];

const carrier = "DHL";
const emptyAddress: StoredAddress = { name: "", line1: "", line2: "", city: "", postalCode: "", country: "" };

/**
 * The shipping database behind ShippingService. Every change is one transaction that also writes its
 * event into the outbox, carrying the shipment as committed (version included); changes of one
 * shipment lock its row first, so a pickup and a cancellation of it are serialised and exactly one wins.
 */
export class ShipmentStore {
  private readonly byId;
  private readonly byOrder;
  private readonly schedule: CarrierSchedule;

  constructor(
    private readonly db: PostgresJsDatabase<typeof schema>,
    options: { schedule?: CarrierSchedule } = {},
  ) {
    this.schedule = options.schedule ?? (() => undefined);
    this.byId = db.select().from(shipments).where(eq(shipments.id, sql.placeholder("id"))).prepare("shipment_by_id");
    this.byOrder = db.select().from(shipments).where(eq(shipments.orderId, sql.placeholder("orderId"))).prepare("shipment_by_order");
  }

  /** Creates the order's shipment, or returns the one it already has (the unique order_id decides). */
  async createOnce(input: NewShipment): Promise<{ row: ShipmentRow; created: boolean }> {
    return (await this.createMany([input]))[0]!;
  }

  /**
   * createOnce for many orders in one transaction: one insert for all of them, one outbox insert for
   * the ShipmentCreated events of those it created, one read of those that existed. Answers in the
   * order of the inputs; an order named twice gets the same shipment twice.
   */
  async createMany(inputs: readonly NewShipment[]): Promise<Array<{ row: ShipmentRow; created: boolean }>> {
    if (inputs.length === 0) return [];
    // Sorted, so two batches naming the same orders wait on each other in one order and never deadlock.
    const firsts = [...new Map(inputs.map((i) => [i.orderId, i] as const)).values()].sort((a, b) => (a.orderId < b.orderId ? -1 : 1));
    const orderIds = firsts.map((i) => i.orderId);
    return this.db.transaction(async (tx) => {
      const now = new Date();
      const dueAt = this.dueAt("pending", now);
      // One array parameter per column: drizzle's multi-row insert builds (and PostgreSQL parses) nine
      // parameters per shipment, most of a batch's CPU in shipping. jsonb travels as text.
      const inserted = await tx.execute<{ order_id: string }>(sql`
        insert into ${shipments} (order_id, customer_id, carrier, tracking_number, address, items, created_at, updated_at, carrier_due_at)
        select order_id, customer_id, ${carrier}, tracking_number, address::jsonb, items::jsonb,
               ${now.toISOString()}::timestamptz, ${now.toISOString()}::timestamptz, ${dueAt?.toISOString() ?? null}::timestamptz
        from unnest(${sql.param(orderIds)}::uuid[], ${sql.param(firsts.map((i) => i.customerId ?? ""))}::text[],
                    ${sql.param(firsts.map(() => trackingNumber()))}::text[], ${sql.param(firsts.map((i) => JSON.stringify(i.address)))}::text[],
                    ${sql.param(firsts.map((i) => JSON.stringify(i.items)))}::text[])
             as n(order_id, customer_id, tracking_number, address, items)
        order by order_id
        on conflict (order_id) do nothing
        returning order_id`);
      const createdIds = new Set(inserted.map((r) => r.order_id));
      // Created and existing alike, read back through the schema's mapping.
      const rows = await tx.select().from(shipments).where(sql`${shipments.orderId} = any(${sql.param(orderIds)}::uuid[])`);
      const byOrder = new Map(rows.map((row) => [row.orderId, row]));
      await insertOutboxEvents(
        tx,
        outbox,
        rows
          .filter((row) => createdIds.has(row.orderId))
          .map((row) => ({
            event: encodeEvent(catalogue.shipmentCreated, { eventId: randomUUID(), shipment: toProto(row), occurTime: timestampFromDate(now) }),
            createdAt: now,
          })),
      );
      return inputs.map((i) => {
        const row = byOrder.get(i.orderId);
        if (!row) throw new Error(`shipment of order ${i.orderId} vanished after a conflicting insert`);
        return { row, created: createdIds.has(i.orderId) };
      });
    });
  }

  /** The shipment with this id, if any. */
  async get(id: string): Promise<ShipmentRow | undefined> {
    return (await this.byId.execute({ id }))[0];
  }

  /** The shipment of this order, if any. */
  async getByOrder(orderId: string): Promise<ShipmentRow | undefined> {
    return (await this.byOrder.execute({ orderId }))[0];
  }

  /**
   * Cancels a pending shipment (a cancelled one is returned as it is; a picked-up one is
   * FAILED_PRECONDITION). By order id before the order has a shipment, it stores a cancelled
   * tombstone (empty address and items, no carrier) with its ShipmentCancelled event, so a later
   * CreateShipment returns it instead of creating a shipment. Undefined: no shipment with that id.
   */
  async cancel(target: CancelTarget): Promise<ShipmentRow | undefined> {
    return this.db.transaction(async (tx) => {
      const current = await this.lock(tx, target);
      if (current) return this.apply(tx, current, "cancelled", {});
      if (!("orderId" in target)) return undefined;
      const now = new Date();
      const [tombstone] = await tx
        .insert(shipments)
        .values({ orderId: target.orderId, status: "cancelled", carrier: "", trackingNumber: "", address: emptyAddress, items: [], createdAt: now, updatedAt: now })
        .onConflictDoNothing({ target: shipments.orderId })
        .returning();
      if (tombstone) {
        await this.record(tx, this.cancelledEvent(tombstone, now), now);
        return tombstone;
      }
      // A CreateShipment committed between our look and our insert: cancel what it created.
      const created = await this.lock(tx, target);
      return created && this.apply(tx, created, "cancelled", {});
    });
  }

  /**
   * Moves a shipment to the status a carrier reports (see planTransition); the status it already has
   * changes nothing. Undefined: no such shipment.
   */
  async updateStatus(id: string, status: ShipmentState, report: StatusReport = {}): Promise<ShipmentRow | undefined> {
    return this.db.transaction(async (tx) => {
      const current = await this.lock(tx, { id });
      return current && this.apply(tx, current, status, report);
    });
  }

  /**
   * The simulated carrier's work: takes up to `limit` shipments whose carrier step is due (FOR UPDATE
   * SKIP LOCKED, so replicas share them and none waits on a shipment another is changing) one step
   * further, each through the same transition as updateStatus. Returns how many it moved.
   */
  async advanceDue(limit: number): Promise<number> {
    return this.db.transaction(async (tx) => {
      const due = await tx
        .select()
        .from(shipments)
        .where(lte(shipments.carrierDueAt, sql`now()`))
        .orderBy(asc(shipments.carrierDueAt))
        .limit(limit)
        .for("update", { skipLocked: true });
      for (const row of due) {
        const next = nextCarrierStep(row.status);
        // Each step is the carrier's own doing, not part of the order's trace: a trace of its own, which
        // its ShipmentStatusChanged event carries on to orders and the notifier.
        if (next) await withSpan(`carrier ${next}`, { root: true, attributes: { "ordermesh.shipment.id": row.id, "ordermesh.order.id": row.orderId } }, () => this.apply(tx, row, next, {}));
        // A final shipment with a step due (planned before a cancel by an older build, say): nothing left to do.
        else await tx.update(shipments).set({ carrierDueAt: null }).where(eq(shipments.id, row.id));
      }
      return due.length;
    });
  }

  /** When the next carrier step of any shipment is due; undefined when none is planned. */
  async nextCarrierDue(): Promise<Date | undefined> {
    const [row] = await this.db.select({ at: min(shipments.carrierDueAt) }).from(shipments).where(isNotNull(shipments.carrierDueAt));
    return row?.at ?? undefined;
  }

  private async lock(tx: Tx, target: CancelTarget): Promise<ShipmentRow | undefined> {
    const where = "id" in target ? eq(shipments.id, target.id) : eq(shipments.orderId, target.orderId);
    const [row] = await tx.select().from(shipments).where(where).for("update");
    return row;
  }

  /** Applies one checked transition to a locked row: the new state, version + 1, the next carrier step, the event. */
  private async apply(tx: Tx, row: ShipmentRow, to: ShipmentState, report: StatusReport): Promise<ShipmentRow> {
    if (planTransition(row.status, to, `shipment ${row.id}`) === "unchanged") return row;
    const now = new Date();
    const [updated] = await tx
      .update(shipments)
      .set({
        status: to,
        version: sql`${shipments.version} + 1`,
        trackingNumber: report.trackingNumber || row.trackingNumber,
        updatedAt: now,
        carrierDueAt: this.dueAt(to, now),
      })
      .where(eq(shipments.id, row.id))
      .returning();
    const occurTime = timestampFromDate(report.occurTime ?? now);
    const event =
      to === "cancelled"
        ? this.cancelledEvent(updated!, report.occurTime ?? now)
        : encodeEvent(catalogue.shipmentStatusChanged, { eventId: randomUUID(), shipment: toProto(updated!), previousStatus: statusToProto[row.status], occurTime });
    await this.record(tx, event, now);
    return updated!;
  }

  private cancelledEvent(row: ShipmentRow, at: Date): EncodedEvent {
    return encodeEvent(catalogue.shipmentCancelled, { eventId: randomUUID(), shipment: toProto(row), occurTime: timestampFromDate(at) });
  }

  private record(tx: Tx, event: EncodedEvent, createdAt: Date): Promise<void> {
    return insertOutboxEvents(tx, outbox, [{ event, createdAt }]);
  }

  /** When the simulated carrier should take the step after `status`, or null when it takes none. */
  private dueAt(status: ShipmentState, now: Date): Date | null {
    const afterMs = this.schedule(status);
    return afterMs === undefined ? null : new Date(now.getTime() + afterMs);
  }
}

function trackingNumber(): string {
  return `OM${randomInt(10 ** 9, 10 ** 10)}`;
}
