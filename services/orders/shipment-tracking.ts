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
import { isUuid } from "../platform/validation/index.js";
import type { OrderStore } from "./order-store.js";

/** Durable consumer name of the shipment projection (README "An order's life"). */
export const shipmentTrackingConsumer = "shipment-tracking";

// A snapshot fails only while orders' database does (poison is dead-lettered at once): ~16 h of
// retries at the 60 s backoff cap before it is dead-lettered, and a newer snapshot supersedes it anyway.
const trackingMaxDeliver = 1000;
// One short transaction per event.
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
  /** Events applied at once; one order's events still go one after another. Default 1. */
  concurrency?: number;
}

/**
 * Applies one of shipping's events to its order: the shipment projection and the order's status move
 * together when the event's shipment is newer than the stored one, so a redelivered, duplicated or
 * overtaken event changes nothing. An event about an order this database does not have, or that
 * cannot apply to it, goes to the dead letter.
 */
export async function applyShippingEvent(store: OrderStore, decoded: DecodedEvent): Promise<HandleResult> {
  const snapshot = snapshotOf(decoded);
  if (!snapshot) return { ack: true };
  const { orderId } = decoded;
  if (!isUuid(orderId)) return { deadLetter: `${decoded.definition.schema.typeName} names order ${JSON.stringify(orderId)}, not a UUID` };
  const result = await store.trackShipment(orderId, snapshot.shipment, snapshot.occurTime);
  if (!result) return { deadLetter: `order ${orderId} does not exist in this orders database` };
  if ("refused" in result) return { deadLetter: result.refused };
  return { ack: true };
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
 * stream too (idempotent) since orders may start before shipping. One order's events are applied one
 * after another, in stream order.
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
    concurrency: options.concurrency ?? 1,
    handle: ({ event }) => applyShippingEvent(store, event),
  });
}
