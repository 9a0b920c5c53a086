import { and, eq, getTableColumns, inArray, isNull, sql as dsql } from "drizzle-orm";
import type { PostgresJsDatabase } from "drizzle-orm/postgres-js";
import type { Sql } from "postgres";
import type { Shipment } from "../../gen/shipping/v1/shipping_pb.js";
import { insertOutboxEvents, tracedOutboxWrite, type OutboxEntry } from "../platform/db/index.js";
import type { EncodedEvent } from "../platform/events/index.js";
import * as schema from "./db/schema.js";
import { orders, outbox, type OrderRow, type StoredAddress } from "./db/schema.js";
import { cancellationDropped, dispatchFailure, recordedShipment, trackedShipment, type OrderStep, type ShipmentRefusal } from "./order-transitions.js";

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
  event: EncodedEvent;
}

/** A change of one order: its steps (one version and one event each) and the trace that caused it. */
export interface OrderChange {
  steps: OrderStep[];
  /**
   * W3C traceparent the change's events carry; default the outbox write's span under the active one. A
   * batch of many orders' changes passes each order's own (its message's span), so each order keeps one trace.
   */
  traceparent?: string | undefined;
}

/** What a change did: the order after it and the events written with it (none when nothing changed). */
export interface ChangeResult {
  order: StoredOrder;
  events: EncodedEvent[];
}

/** One order's change in a batch (see changeManyWithEvents). */
export interface OrderChangeRequest {
  id: string;
  change(current: StoredOrder, now: Date): OrderChange | undefined;
}

/** A shipment snapshot to apply to its order (trackShipments). */
export interface ShipmentSnapshot {
  orderId: string;
  shipment: Shipment;
  occurTime: Date;
  /** W3C traceparent the order's events carry (its shipping event's span), see OrderChange.traceparent. */
  traceparent?: string | undefined;
}

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
  private readonly present;

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
      .set({
        status: "shipment_requested",
        updatedAt: dsql`case when ${orders.status} = 'pending' then now() else ${orders.updatedAt} end`,
        version: dsql`case when ${orders.status} = 'pending' then ${orders.version} + 1 else ${orders.version} end`,
      })
      .where(
        and(
          dsql`${orders.id} = any(${dsql.placeholder("ids")}::uuid[])`,
          inArray(orders.status, ["pending", "shipment_requested"]),
          isNull(orders.shipmentId),
        ),
      )
      .returning(withItems)
      .prepare("orders_claim_for_dispatch");
    this.present = db
      .select({ id: orders.id })
      .from(orders)
      .where(dsql`${orders.id} = any(${dsql.placeholder("ids")}::uuid[])`)
      .prepare("orders_present");
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
    const rows = await tracedOutboxWrite(1, (traceparent) => sql`
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
               ${traceparent ?? null}
        from inserted
      )
      select id from inserted`);
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
   * Runs a change of one order and writes its events to the outbox in one transaction, with the order
   * row locked so that concurrent changes of one order are serialised. `change` sees the current order
   * and returns the steps to apply, or undefined (or no steps) to change nothing. Each step bumps the
   * version by one and writes one event built from the order as that step leaves it, so a change that
   * passes two milestones (shipped, then delivered) publishes both, each with its own version.
   * Undefined when the order is not there.
   */
  async changeWithEvents(id: string, change: OrderChangeRequest["change"]): Promise<ChangeResult | undefined> {
    return (await this.changeManyWithEvents([{ id, change }]))[0];
  }

  /**
   * changeWithEvents for many orders in one transaction: one statement locks them all (in id order, so
   * two batches never deadlock), one updates those that changed, one writes all their events. Answers
   * in the order of the requests; an order named twice sees the first change's outcome. A change that
   * throws rolls the whole batch back.
   */
  async changeManyWithEvents(requests: readonly OrderChangeRequest[]): Promise<Array<ChangeResult | undefined>> {
    if (requests.length === 0) return [];
    // PostgreSQL answers uuids in lower case; a caller's id may be in any.
    const keyOf = (id: string) => id.toLowerCase();
    const ids = [...new Set(requests.map((r) => keyOf(r.id)))].sort();
    return this.db.transaction(async (tx) => {
      // FOR UPDATE OF orders locks the order rows only; the lines come along in the same round trip.
      const locked = await tx
        .select({ ...getTableColumns(orders), items: itemsColumn })
        .from(orders)
        // One array parameter: the same statement text whatever the batch size.
        .where(dsql`${orders.id} = any(${dsql.param(ids)}::uuid[])`)
        .orderBy(orders.id)
        .for("update", { of: orders });
      const current = new Map(locked.map((row) => [row.id, withParsedItems(row)]));
      const updatedAt = new Date();
      const changed = new Map<string, StoredOrder>();
      const columns = new Set<keyof OrderRow>(["version", "updatedAt"]);
      const entries: OutboxEntry[] = [];
      const results = requests.map((request): ChangeResult | undefined => {
        const id = keyOf(request.id);
        const order = current.get(id);
        if (!order) return undefined;
        const plan = request.change(order, updatedAt);
        if (!plan || plan.steps.length === 0) return { order, events: [] };
        let next = order;
        const events: EncodedEvent[] = [];
        for (const step of plan.steps) {
          for (const column of Object.keys(step.set) as Array<keyof OrderRow>) columns.add(column);
          next = { ...next, ...step.set, version: next.version + 1n, updatedAt };
          events.push(step.event(next));
        }
        current.set(id, next);
        changed.set(id, next);
        for (const event of events) entries.push({ event, createdAt: updatedAt, traceparent: plan.traceparent });
        return { order: next, events };
      });
      if (changed.size > 0) {
        // Sent together: the rows are locked, so the update cannot fail on a conflict and the insert needs no wait.
        await Promise.all([tx.execute(updateRows([...changed.values()], [...columns])), insertOutboxEvents(tx, outbox, entries)]);
      }
      return results;
    });
  }

  /**
   * Hands an order to shipping and returns it, in one statement: a pending order becomes
   * SHIPMENT_REQUESTED (version + 1, no event: watchers learn of it with the shipment); one already
   * requested without a shipment (a redelivery) is returned as is. Claiming before calling shipping
   * means a cancel after the claim goes through the CANCELLING saga, which shipping serialises with
   * the shipment's creation. Undefined when the order is not there or has nothing left to dispatch
   * (CANCELLING, CANCELLED, failed, already with its shipment).
   */
  async claimForDispatch(id: string): Promise<StoredOrder | undefined> {
    return (await this.claimManyForDispatch([id]))[0];
  }

  /** claimForDispatch for many orders in one statement; returns the claimed ones, in no particular order. */
  async claimManyForDispatch(ids: readonly string[]): Promise<StoredOrder[]> {
    if (ids.length === 0) return [];
    const rows = await this.claim.execute({ ids: [...ids] });
    return rows.map(withParsedItems);
  }

  /** Which of these order ids exist in this database (one statement). */
  async existing(ids: readonly string[]): Promise<Set<string>> {
    if (ids.length === 0) return new Set();
    return new Set((await this.present.execute({ ids: [...ids] })).map((r) => r.id));
  }

  /**
   * Records the shipment CreateShipment answered for a claimed order (see recordedShipment: once, and
   * never moving the order's status). A refusal (another shipment already recorded) changes nothing.
   */
  async recordShipment(id: string, shipment: Shipment): Promise<ChangeResult | ShipmentRefusal | undefined> {
    return (await this.recordShipments([{ orderId: id, shipment }]))[0];
  }

  /**
   * recordShipment for many orders in one transaction; answers in the order of the inputs. Each may name
   * the traceparent its events carry (see OrderChange.traceparent).
   */
  recordShipments(recorded: ReadonlyArray<{ orderId: string; shipment: Shipment; traceparent?: string | undefined }>): Promise<Array<ChangeResult | ShipmentRefusal | undefined>> {
    return this.changeManyByShipment(
      recorded.map(({ orderId, shipment, traceparent }) => ({ id: orderId, traceparent, decide: (current, now) => recordedShipment(current, shipment, now) })),
    );
  }

  /**
   * Applies a shipment snapshot from shipping's events (see trackedShipment): the projection and the
   * order's status, when the snapshot is newer than the stored one. Undefined when the order is not here.
   */
  async trackShipment(id: string, shipment: Shipment, occurTime: Date): Promise<ChangeResult | ShipmentRefusal | undefined> {
    return (await this.trackShipments([{ orderId: id, shipment, occurTime }]))[0];
  }

  /** trackShipment for many snapshots in one transaction; answers in the order of the inputs. */
  trackShipments(snapshots: readonly ShipmentSnapshot[]): Promise<Array<ChangeResult | ShipmentRefusal | undefined>> {
    return this.changeManyByShipment(
      snapshots.map(({ orderId, shipment, occurTime, traceparent }) => ({ id: orderId, traceparent, decide: (current) => trackedShipment(current, shipment, occurTime) })),
    );
  }

  private async changeManyByShipment(
    changes: ReadonlyArray<{ id: string; traceparent: string | undefined; decide: (current: StoredOrder, now: Date) => OrderStep[] | ShipmentRefusal | undefined }>,
  ): Promise<Array<ChangeResult | ShipmentRefusal | undefined>> {
    const refusals: Array<ShipmentRefusal | undefined> = [];
    const results = await this.changeManyWithEvents(
      changes.map(({ id, traceparent, decide }, i) => ({
        id,
        change: (current, now) => {
          const steps = decide(current, now);
          if (steps && "refused" in steps) refusals[i] = steps;
          return Array.isArray(steps) ? { steps, traceparent } : undefined;
        },
      })),
    );
    return results.map((result, i) => refusals[i] ?? result);
  }

  /** Flags a claimed order whose dispatch gave up (no shipment), so an operator can find it; true when it did. */
  markDispatchFailed(id: string): Promise<boolean> {
    return this.changedBy(id, dispatchFailure);
  }

  /** Returns a CANCELLING order to SHIPMENT_REQUESTED after shipping refused its cancellation for good; true when it did. */
  dropCancellation(id: string): Promise<boolean> {
    return this.changedBy(id, cancellationDropped);
  }

  private async changedBy(id: string, decide: (current: StoredOrder, now: Date) => OrderStep[] | undefined): Promise<boolean> {
    const result = await this.changeWithEvents(id, (current, now) => {
      const steps = decide(current, now);
      return steps && { steps };
    });
    return (result?.events.length ?? 0) > 0;
  }
}

const orderColumns = getTableColumns(orders);

/**
 * One UPDATE of many locked orders: each row's `columns` set to the values of its new state, read
 * from one jsonb parameter typed by the orders row type (so every column keeps its own type).
 */
function updateRows(rows: readonly StoredOrder[], columns: ReadonlyArray<keyof OrderRow>) {
  const json = JSON.stringify(
    rows.map((row) => Object.fromEntries([["id", row.id], ...columns.map((c) => [orderColumns[c].name, jsonValue(row[c])])])),
  );
  const assignments = dsql.join(
    columns.map((c) => dsql`${dsql.identifier(orderColumns[c].name)} = n.${dsql.identifier(orderColumns[c].name)}`),
    dsql`, `,
  );
  return dsql`update ${orders} set ${assignments} from jsonb_populate_recordset(null::${orders}, ${json}::jsonb) n where ${orders.id} = n.id`;
}

function jsonValue(value: unknown): unknown {
  if (typeof value === "bigint") return value.toString();
  if (value instanceof Date) return value.toISOString();
  return value;
}

function withParsedItems(row: OrderRow & { items: Array<[string, number, string]> }): StoredOrder {
  return { ...row, items: row.items.map(([sku, quantity, price]) => ({ sku, quantity, unitPriceCents: BigInt(price) })) };
}
