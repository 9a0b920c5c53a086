import { and, eq, getTableColumns, inArray, isNull, sql as dsql } from "drizzle-orm";
import type { PostgresJsDatabase } from "drizzle-orm/postgres-js";
import type { Sql } from "postgres";
import { insertOutboxEvents, type OutboxEntry } from "../platform/db/index.js";
import type { EncodedEvent } from "../platform/events/index.js";
import * as schema from "./db/schema.js";
import { orders, outbox, type OrderRow, type StoredAddress } from "./db/schema.js";

/** An order row with its lines, as read in one statement. */
export interface StoredOrder extends OrderRow {
  items: StoredLineItem[];
}

/** One order line as stored. */
export interface StoredLineItem {
  sku: string;
  quantity: number;
  unitPriceCents: bigint;
}

/** Everything CreateOrder writes: the order, its lines and its OrderCreated outbox event. */
export interface NewOrder {
  id: string;
  customerId: string;
  customerEmail: string;
  currency: string;
  totalCents: bigint;
  shippingAddress: StoredAddress;
  items: StoredLineItem[];
  requestId: string | null;
  requestHash: string | null;
  createdAt: Date;
  /** The catalogue's OrderCreated, encoded. */
  event: EncodedEvent;
  /** W3C traceparent of the CreateOrder call, carried on the event. */
  traceparent?: string | undefined;
}

/** An outbox event to write with a state change (its time is the change's updated_at). */
export type NewEvent = Omit<OutboxEntry, "createdAt">;

/** Keyset position of the last order on a page. */
export interface PageCursor {
  createdAt: Date;
  id: string;
}

// json_agg keeps GetOrder and ListOrders to one round trip; prices travel as text to keep int64 exact.
const itemsColumn = dsql<Array<[string, number, string]>>`coalesce((
  select json_agg(json_build_array(li.sku, li.quantity, li.unit_price_cents::text) order by li.position)
  from line_items li where li.order_id = ${orders.id}), '[]'::json)`.as("items");

/** The orders database. Reads are drizzle prepared statements; CreateOrder is one CTE statement. */
export class OrderStore {
  private readonly byId;
  private readonly firstPage;
  private readonly nextPage;
  private readonly claim;
  private readonly setShipment;
  private readonly markFailed;

  constructor(
    private readonly db: PostgresJsDatabase<typeof schema>,
    private readonly sql: Sql,
  ) {
    const withItems = { ...getTableColumns(orders), items: itemsColumn };
    this.byId = db.select(withItems).from(orders).where(eq(orders.id, dsql.placeholder("id"))).prepare("order_by_id");
    this.firstPage = db
      .select(withItems)
      .from(orders)
      .where(eq(orders.customerId, dsql.placeholder("customerId")))
      .orderBy(dsql`${orders.createdAt} desc`, dsql`${orders.id} desc`)
      .limit(dsql.placeholder("limit"))
      .prepare("orders_first_page");
    this.nextPage = db
      .select(withItems)
      .from(orders)
      .where(
        and(
          eq(orders.customerId, dsql.placeholder("customerId")),
          // Row comparison matches the (customer_id, created_at desc, id desc) index exactly.
          dsql`(${orders.createdAt}, ${orders.id}) < (${dsql.placeholder("afterTime")}::timestamptz, ${dsql.placeholder("afterId")}::uuid)`,
        ),
      )
      .orderBy(dsql`${orders.createdAt} desc`, dsql`${orders.id} desc`)
      .limit(dsql.placeholder("limit"))
      .prepare("orders_next_page");
    this.claim = db
      .update(orders)
      // A redelivery finds its own earlier claim (requested, no shipment yet) and takes it over unchanged.
      .set({ status: "shipment_requested", updatedAt: dsql`case when ${orders.status} = 'pending' then now() else ${orders.updatedAt} end` })
      .where(
        and(
          eq(orders.id, dsql.placeholder("id")),
          inArray(orders.status, ["pending", "shipment_requested"]),
          isNull(orders.shipmentId),
        ),
      )
      .returning(withItems)
      .prepare("order_claim_for_dispatch");
    this.setShipment = db
      .update(orders)
      .set({ shipmentId: dsql`${dsql.placeholder("shipmentId")}::uuid`, updatedAt: dsql`now()` })
      .where(and(eq(orders.id, dsql.placeholder("id")), isNull(orders.shipmentId)))
      .returning({ id: orders.id })
      .prepare("order_record_shipment");
    this.markFailed = db
      .update(orders)
      .set({ status: "dispatch_failed", updatedAt: dsql`now()` })
      .where(and(eq(orders.id, dsql.placeholder("id")), eq(orders.status, "shipment_requested"), isNull(orders.shipmentId)))
      .returning({ id: orders.id })
      .prepare("order_mark_dispatch_failed");
  }

  /**
   * Inserts order, lines and outbox event in one statement (one round trip, one implicit transaction).
   * Returns false when the customer already used the request_id; the caller then reads the existing order.
   */
  async insert(order: NewOrder): Promise<boolean> {
    const { sql } = this;
    // drizzle() swaps postgres.js's date and json serializers for identity ones, so raw
    // parameters on this shared client travel as strings.
    const createdAt = order.createdAt.toISOString();
    const rows = await sql`
      with inserted as (
        insert into orders (id, customer_id, customer_email, currency, total_cents, status, shipping_address,
                            request_id, request_hash, created_at, updated_at)
        values (${order.id}, ${order.customerId}, ${order.customerEmail}, ${order.currency}, ${order.totalCents.toString()},
                'pending', ${JSON.stringify(order.shippingAddress)}::jsonb, ${order.requestId}, ${order.requestHash},
                ${createdAt}, ${createdAt})
        on conflict (customer_id, request_id) do nothing
        returning id
      ), lines as (
        insert into line_items (order_id, position, sku, quantity, unit_price_cents)
        select inserted.id, x.position, x.sku, x.quantity, x.price
        from inserted, unnest(${order.items.map((i) => i.sku)}::text[],
                              ${order.items.map((i) => String(i.quantity))}::int[],
                              ${order.items.map((i) => i.unitPriceCents.toString())}::bigint[])
             with ordinality as x(sku, quantity, price, position)
      ), events as (
        insert into outbox (id, aggregate_id, event_name, event_type, payload, created_at, traceparent)
        select ${order.event.id}, inserted.id, ${order.event.name}, ${order.event.type}, ${Buffer.from(order.event.payload)}, ${createdAt},
               ${order.traceparent ?? null}
        from inserted
      )
      select id from inserted`;
    return rows.length === 1;
  }

  /** The order with this id, with its lines. */
  async get(id: string): Promise<StoredOrder | undefined> {
    const [row] = await this.byId.execute({ id });
    return row && withParsedItems(row);
  }

  /** The order this customer created with this request_id (request ids are scoped per customer). */
  async getByRequestId(customerId: string, requestId: string): Promise<StoredOrder | undefined> {
    const [row] = await this.db
      .select({ id: orders.id })
      .from(orders)
      .where(and(eq(orders.customerId, customerId), eq(orders.requestId, requestId)));
    return row && this.get(row.id);
  }

  /** One page of a customer's orders, newest first, after the cursor if given. */
  async listByCustomer(customerId: string, limit: number, after?: PageCursor): Promise<StoredOrder[]> {
    const rows = after
      ? await this.nextPage.execute({ customerId, limit, afterTime: after.createdAt.toISOString(), afterId: after.id })
      : await this.firstPage.execute({ customerId, limit });
    return rows.map(withParsedItems);
  }

  /**
   * Runs a state change and its outbox event in one transaction, with the order row locked so that
   * concurrent changes of one order are serialised. `change` sees the current order and returns the
   * update to apply and the event to publish, or undefined to change nothing.
   */
  async changeWithEvent(
    id: string,
    change: (current: StoredOrder) => { set: Partial<OrderRow>; event: (updated: StoredOrder) => NewEvent } | undefined,
  ): Promise<StoredOrder | undefined> {
    return this.db.transaction(async (tx) => {
      // FOR UPDATE OF orders locks the order row only; the lines come along in the same round trip.
      const [current] = await tx
        .select({ ...getTableColumns(orders), items: itemsColumn })
        .from(orders)
        .where(eq(orders.id, id))
        .for("update", { of: orders });
      if (!current) return undefined;
      const order = withParsedItems(current);
      const plan = change(order);
      if (!plan) return order;
      const [updated] = await tx
        .update(orders)
        .set({ ...plan.set, updatedAt: new Date() })
        .where(eq(orders.id, id))
        .returning();
      const next = { ...updated!, items: order.items };
      await insertOutboxEvents(tx, outbox, [{ ...plan.event(next), createdAt: next.updatedAt }]);
      return next;
    });
  }

  /**
   * Hands an order to shipping and returns it, in one statement: a pending order becomes
   * SHIPMENT_REQUESTED (from here on CancelOrder refuses it); one already requested without a shipment
   * (a redelivery) is returned as is. Claiming before calling shipping (rather than after) means a
   * concurrent cancel can never leave a shipment for a cancelled order. Undefined when the order is
   * not there or has nothing left to dispatch (cancelled, shipped, failed).
   */
  async claimForDispatch(id: string): Promise<StoredOrder | undefined> {
    const [row] = await this.claim.execute({ id });
    return row && withParsedItems(row);
  }

  /** Records the shipment shipping created for a claimed order (once; a redelivery changes nothing). */
  async recordShipment(id: string, shipmentId: string): Promise<boolean> {
    return (await this.setShipment.execute({ id, shipmentId })).length === 1;
  }

  /** Flags a claimed order whose dispatch gave up (no shipment), so an operator can find it. */
  async markDispatchFailed(id: string): Promise<boolean> {
    return (await this.markFailed.execute({ id })).length === 1;
  }
}

function withParsedItems(row: OrderRow & { items: Array<[string, number, string]> }): StoredOrder {
  return { ...row, items: row.items.map(([sku, quantity, price]) => ({ sku, quantity, unitPriceCents: BigInt(price) })) };
}
