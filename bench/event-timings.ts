import { fromBinary } from "@bufbuild/protobuf";
import { timestampMs } from "@bufbuild/protobuf/wkt";
import { DeliverPolicy, jetstream, jetstreamManager } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import postgres from "postgres";
import { OrderCreatedSchema } from "../gen/orders/v1/events_pb.js";
import type { MeshUnderBench } from "./mesh.js";
import { catalogue, subjectOf } from "../services/platform/events/index.js";

/** One OrderCreated event as JetStream stored it. */
export interface PublishedOrder {
  orderId: string;
  eventId: string;
  customerId: string;
  /** The order's create_time (set in the same handler call that commits it), epoch ms. */
  createdMs: number;
  /** JetStream's timestamp of the stored message, epoch ms. */
  publishedMs: number;
}

/** The stream's last sequence now; events published later have higher sequences. */
export async function lastSequence(mesh: MeshUnderBench): Promise<number> {
  const nc = await connect({ servers: mesh.natsUrl });
  try {
    const jsm = await jetstreamManager(nc);
    return (await jsm.streams.info(mesh.stream)).state.last_seq;
  } finally {
    await nc.close();
  }
}

/** Every OrderCreated stored after `afterSeq` up to the stream's current end, via an ordered consumer. */
export async function readCreatedEvents(mesh: MeshUnderBench, afterSeq: number): Promise<PublishedOrder[]> {
  const nc = await connect({ servers: mesh.natsUrl });
  try {
    const jsm = await jetstreamManager(nc);
    const last = (await jsm.streams.info(mesh.stream)).state.last_seq;
    const out: PublishedOrder[] = [];
    if (last <= afterSeq) return out;
    const consumer = await jetstream(nc).consumers.get(mesh.stream, {
      // A single subject as a string: NATS 2.9 has no filter_subjects (multi-filter) consumers.
      filter_subjects: subjectOf(catalogue.orderCreated, mesh.subjectPrefix),
      deliver_policy: DeliverPolicy.StartSequence,
      opt_start_seq: afterSeq + 1,
    });
    const messages = await consumer.consume({ max_messages: 1000 });
    for await (const msg of messages) {
      const event = fromBinary(OrderCreatedSchema, msg.data);
      if (event.order?.createTime) {
        out.push({
          orderId: event.order.id,
          eventId: event.eventId,
          customerId: event.order.customerId,
          createdMs: timestampMs(event.order.createTime),
          publishedMs: msg.info.timestampNanos / 1e6,
        });
      }
      // pending counts what the filtered consumer still has to deliver up to the stream's end.
      if (msg.info.streamSequence >= last || msg.info.pending === 0) break;
    }
    messages.stop();
    return out;
  } finally {
    await nc.close();
  }
}

/** Shipment creation times (epoch ms) by order id, from the shipping database. */
export async function shipmentTimes(mesh: MeshUnderBench, orderIds: string[]): Promise<Map<string, number>> {
  if (!mesh.shippingDatabaseUrl || orderIds.length === 0) return new Map();
  const sql = postgres(mesh.shippingDatabaseUrl, { max: 1, onnotice: () => {} });
  try {
    const rows = await sql<Array<{ order_id: string; ms: string }>>`
      select order_id::text, (extract(epoch from created_at) * 1000)::text as ms from shipments where order_id = any(${orderIds}::uuid[])`;
    return new Map(rows.map((r) => [r.order_id, Number(r.ms)]));
  } finally {
    await sql.end({ timeout: 5 });
  }
}

/** Shipments stored so far (on the given connection, or a fresh one). */
export async function shipmentCount(mesh: MeshUnderBench, connection?: postgres.Sql): Promise<number> {
  if (!mesh.shippingDatabaseUrl) return 0;
  const sql = connection ?? postgres(mesh.shippingDatabaseUrl, { max: 1, onnotice: () => {} });
  try {
    return Number((await sql`select count(*)::int as n from shipments`)[0]!.n);
  } finally {
    if (!connection) await sql.end({ timeout: 5 });
  }
}

/** When the notifier handled each event (epoch ms): our SMTP receiver's accept time, else the notifier DB's sent_at. */
export async function notifiedTimes(mesh: MeshUnderBench, eventIds: string[]): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  if (mesh.smtp) {
    for (const id of eventIds) {
      const at = mesh.smtp.receivedAt.get(`<${id}@notifier.ordermesh>`);
      if (at !== undefined) out.set(id, at);
    }
    return out;
  }
  if (!mesh.notifierDatabaseUrl || eventIds.length === 0) return out;
  const sql = postgres(mesh.notifierDatabaseUrl, { max: 1, onnotice: () => {} });
  try {
    const rows = await sql<Array<{ event_id: string; ms: string }>>`
      select event_id::text, (extract(epoch from sent_at) * 1000)::text as ms from notifications
      where status = 'sent' and event_id = any(${eventIds}::uuid[])`;
    for (const r of rows) out.set(r.event_id, Number(r.ms));
    return out;
  } finally {
    await sql.end({ timeout: 5 });
  }
}

/** One order of a phase from its commit on (epoch ms); a stage it never reached is undefined. */
export interface OrderTimeline {
  orderId: string;
  createdMs: number;
  publishedMs: number;
  /** Our SMTP receiver accepted its confirmation email. */
  mailedMs: number | undefined;
  /** Its shipment row was committed in shipping. */
  shippedMs: number | undefined;
}

/** The timeline of each published order: when it was mailed and shipped. */
export async function orderTimelines(mesh: MeshUnderBench, events: PublishedOrder[]): Promise<OrderTimeline[]> {
  const shipments = await shipmentTimes(mesh, events.map((e) => e.orderId));
  const emails = await notifiedTimes(mesh, events.map((e) => e.eventId));
  return events.map((e) => ({
    orderId: e.orderId,
    createdMs: e.createdMs,
    publishedMs: e.publishedMs,
    mailedMs: emails.get(e.eventId),
    shippedMs: shipments.get(e.orderId),
  }));
}

/** Commit to fully processed (the later of shipment and email), or undefined when either is missing. */
export function processedLagMs(t: OrderTimeline): number | undefined {
  if (t.mailedMs === undefined || t.shippedMs === undefined) return undefined;
  return Math.max(t.mailedMs, t.shippedMs) - t.createdMs;
}

/** Waits (polling, bounded) until every accepted order has its shipment and its email; returns whether it got there. */
export async function waitForEventSide(mesh: MeshUnderBench, orders: number, timeoutMs: number, log?: (line: string) => void): Promise<boolean> {
  const started = Date.now();
  let reported = started;
  // One connection for the whole wait: this runs inside measured windows, and a new PostgreSQL
  // backend per poll (a fork) would be charged to the mesh.
  const sql = mesh.shippingDatabaseUrl ? postgres(mesh.shippingDatabaseUrl, { max: 1, onnotice: () => {} }) : undefined;
  try {
    for (;;) {
      const shipped = await shipmentCount(mesh, sql);
      const mailed = mesh.smtp ? mesh.smtp.receivedAt.size : orders;
      if (shipped >= orders && mailed >= orders) return true;
      if (Date.now() > started + timeoutMs) return false;
      if (log && Date.now() - reported > 5000) {
        reported = Date.now();
        log(`event side catching up: ${shipped}/${orders} shipped, ${mailed}/${orders} mailed`);
      }
      await new Promise((r) => setTimeout(r, 200));
    }
  } finally {
    await sql?.end({ timeout: 5 });
  }
}
