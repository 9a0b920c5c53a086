import { timestampDate } from "@bufbuild/protobuf/wkt";
import type { JetStreamClient, JetStreamManager } from "@nats-io/jetstream";
import type { Shipment } from "../../gen/shipping/v1/shipping_pb.js";
import {
  ensureEventStreams,
  startEventConsumer,
  type DecodedEvent,
  type DurableConsumer,
  type EventFamilyConfig,
  type EventStreamLimits,
  type HandleResult,
} from "../platform/events/index.js";
import type { Logger } from "../platform/process/index.js";
import { traceparentOf, type Context } from "../platform/telemetry/index.js";
import { isUuid } from "../platform/validation/index.js";
import type { OrderStore, ShipmentSnapshot } from "./order-store.js";

/** Durable consumer name of the shipment projection (README "An order's life"). */
export const shipmentTrackingConsumer = "shipment-tracking";

// A snapshot fails only while orders' database does (poison is dead-lettered at once): ~16 h of
// retries at the 60 s backoff cap before it is dead-lettered, and a newer snapshot supersedes it anyway.
const trackingMaxDeliver = 1000;
// One short transaction per batch.
const trackingAckWaitMs = 30_000;

/** What the tracking consumer needs. */
export interface ShipmentTrackingOptions {
  js: JetStreamClient;
  jsm: JetStreamManager;
  /** Shipping's event family (readEventFamily(env, "shipping")). */
  shipping: EventFamilyConfig;
  store: OrderStore;
  logger: Logger;
  /** Retention of shipping's streams when this process declares them first (readStreamLimits). */
  streamLimits?: EventStreamLimits;
  /** Events applied in one transaction at most. Default 1. */
  batchSize?: number;
  /** Batches in flight at once; one order's events still go one after another. Default 1. */
  batchesInFlight?: number;
}

/**
 * Applies shipping's events to their orders in one transaction: each order's shipment projection and
 * status move together when the event's shipment is newer than the stored one, so a redelivered,
 * duplicated or overtaken event changes nothing. An event about an order this database does not have,
 * or that cannot apply to it, goes to the dead letter; events without a shipment are acked. Answers
 * one result per event, in order. `traces[i]` is event i's span (EventDelivery.trace): the order's
 * events it causes carry it, so each order's trace goes on through a batch of many.
 */
export async function applyShippingEvents(store: OrderStore, events: readonly DecodedEvent[], traces: ReadonlyArray<Context | undefined> = []): Promise<HandleResult[]> {
  const results: HandleResult[] = new Array(events.length);
  const applied: Array<{ index: number; snapshot: ShipmentSnapshot }> = [];
  events.forEach((decoded, index) => {
    const snapshot = snapshotOf(decoded);
    const { orderId } = decoded;
    if (!snapshot) results[index] = { ack: true };
    // Checked here: one id that is not a UUID would fail the batch's transaction for every event in it.
    else if (!isUuid(orderId)) results[index] = { deadLetter: `${decoded.definition.schema.typeName} names order ${JSON.stringify(orderId)}, not a UUID` };
    else applied.push({ index, snapshot: { orderId: orderId.toLowerCase(), ...snapshot, traceparent: traces[index] && traceparentOf(traces[index]) } });
  });
  const outcomes = await store.trackShipments(applied.map((a) => a.snapshot));
  applied.forEach(({ index, snapshot }, k) => {
    const outcome = outcomes[k];
    if (!outcome) results[index] = { deadLetter: `order ${snapshot.orderId} does not exist in this orders database` };
    else if ("refused" in outcome) results[index] = { deadLetter: outcome.refused };
    else results[index] = { ack: true };
  });
  return results;
}

/** The shipment an event of shipping's family carries, with when it happened; undefined for other events. */
function snapshotOf(decoded: DecodedEvent): { shipment: Shipment; occurTime: Date } | undefined {
  switch (decoded.key) {
    case "shipmentCreated":
    case "shipmentStatusChanged":
    case "shipmentCancelled": {
      const { shipment, occurTime } = decoded.event;
      if (!shipment) return undefined;
      return { shipment, occurTime: occurTime ? timestampDate(occurTime) : new Date() };
    }
    default:
      return undefined;
  }
}

/**
 * Starts the durable consumer `shipment-tracking` on shipping's stream (`<prefix>.>`), declaring the
 * stream too (idempotent) since orders may start before shipping. The events it holds are applied in
 * batches (one transaction each, acks together); one order's events one after another, in stream order.
 */
export function startShipmentTracking(options: ShipmentTrackingOptions): Promise<DurableConsumer> {
  const { shipping, store } = options;
  return startEventConsumer({
    js: options.js,
    jsm: options.jsm,
    logger: options.logger,
    family: "shipping",
    subjectPrefix: shipping.subjectPrefix,
    stream: shipping.stream,
    durable: shipmentTrackingConsumer,
    events: ["shipmentCreated", "shipmentStatusChanged", "shipmentCancelled"],
    ackWaitMs: trackingAckWaitMs,
    maxDeliver: trackingMaxDeliver,
    declareStream: () => ensureEventStreams(options.jsm, { ...shipping, limits: options.streamLimits }),
    maxBatch: options.batchSize ?? 1,
    concurrency: options.batchesInFlight ?? 1,
    handleBatch: (deliveries) =>
      applyShippingEvents(
        store,
        deliveries.map((d) => d.event),
        deliveries.map((d) => d.trace),
      ),
  });
}
