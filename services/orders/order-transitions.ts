import { randomUUID } from "node:crypto";
import { timestampDate, timestampFromDate } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError } from "@connectrpc/connect";
import { ShipmentStatus, type Shipment } from "../../gen/shipping/v1/shipping_pb.js";
import { catalogue, encodeEvent, type EncodedEvent } from "../platform/events/index.js";
import { isUuid } from "../platform/validation/index.js";
import type { OrderRow } from "./db/schema.js";
import { orderToProto, storedShipmentStatus } from "./order-mapping.js";
import type { StoredOrder } from "./order-store.js";

/**
 * What each change does to an order: the fields it sets and the orders event it publishes, decided
 * from the order as it is (locked) in the database. Pure functions, so every rule of the order's life
 * (see README "An order's life") is in this one file and the store only applies what they return.
 */

/** One step of a change: one version, one event. A change passing a milestone it skipped has several. */
export interface OrderStep {
  set: Partial<OrderRow>;
  /** The step's event, built from the order as this step leaves it. */
  event(order: StoredOrder): EncodedEvent;
}

/** Why a shipment snapshot cannot be applied to an order (the message is dead-lettered with it). */
export interface ShipmentRefusal {
  refused: string;
}

// Each group's messages have the same fields (event_id, order, occur_time, and reason for the second),
// so one member's type stands for the group where encodeEvent cannot infer a union.
type PlainEvent = typeof catalogue.orderShipped | typeof catalogue.orderDelivered | typeof catalogue.orderUpdated;
type ReasonEvent = typeof catalogue.orderCancelled | typeof catalogue.orderCancellationRequested;

function plain(definition: PlainEvent, occurTime: Date): OrderStep["event"] {
  return (order) => encodeEvent(definition as typeof catalogue.orderUpdated, { eventId: randomUUID(), order: orderToProto(order), occurTime: timestampFromDate(occurTime) });
}

function withReason(definition: ReasonEvent, occurTime: Date): OrderStep["event"] {
  return (order) =>
    encodeEvent(definition as typeof catalogue.orderCancelled, {
      eventId: randomUUID(),
      order: orderToProto(order),
      occurTime: timestampFromDate(occurTime),
      reason: order.cancelReason,
    });
}

/** Statuses in which the parcel has not left: a pickup makes such an order SHIPPED. */
const beforePickup: ReadonlySet<OrderRow["status"]> = new Set(["pending", "shipment_requested", "cancelling", "dispatch_failed"]);

/** The reason an order gets when shipping cancelled its shipment without the customer asking. */
export const cancelledByShippingReason = "the shipment was cancelled by shipping";

/**
 * CancelOrder: a PENDING order (never claimed, so shipping never heard of it) is cancelled at once; one
 * handed to shipping becomes CANCELLING and the shipment-cancel saga takes over. So does a
 * DISPATCH_FAILED one: its last CreateShipment may have reached shipping after all (a lost answer), and
 * CancelShipment by order_id cancels such a shipment or records that none may be made. CANCELLING and
 * CANCELLED stay as they are; SHIPPED and DELIVERED are FAILED_PRECONDITION.
 */
export function cancellation(current: StoredOrder, reason: string, now: Date): OrderStep[] | undefined {
  switch (current.status) {
    case "pending":
      return [{ set: { status: "cancelled", cancelReason: reason }, event: withReason(catalogue.orderCancelled, now) }];
    case "shipment_requested":
    case "dispatch_failed":
      return [{ set: { status: "cancelling", cancelReason: reason }, event: withReason(catalogue.orderCancellationRequested, now) }];
    case "cancelling":
    case "cancelled":
      return undefined;
    case "shipped":
    case "delivered":
      throw new ConnectError(`order ${current.id} is ${current.status === "shipped" ? "already picked up by the carrier" : "already delivered"} and can no longer be cancelled`, Code.FailedPrecondition);
  }
}

/** Dispatch gave up for good on an order it had claimed (no shipment known): DISPATCH_FAILED. */
export function dispatchFailure(current: StoredOrder, now: Date): OrderStep[] | undefined {
  if (current.status !== "shipment_requested" || current.shipmentId !== null) return undefined;
  return [{ set: { status: "dispatch_failed" }, event: plain(catalogue.orderUpdated, now) }];
}

/**
 * Shipping refused the compensating CancelShipment for good (not a pickup, not an outage): the
 * cancellation is dropped and the order is SHIPMENT_REQUESTED again, so it can be cancelled anew.
 */
export function cancellationDropped(current: StoredOrder, now: Date): OrderStep[] | undefined {
  if (current.status !== "cancelling") return undefined;
  return [{ set: { status: "shipment_requested", cancelReason: "" }, event: plain(catalogue.orderUpdated, now) }];
}

/**
 * The shipment CreateShipment answered, recorded right away so the order shows it before shipping's
 * ShipmentCreated arrives (which then is not newer and changes nothing). Only a fresh (PENDING)
 * shipment is recorded, and the order's status never moves: every later state, a cancelled shipment
 * included, comes from shipping's events, which also move the status.
 */
export function recordedShipment(current: StoredOrder, shipment: Shipment, now: Date): OrderStep[] | ShipmentRefusal | undefined {
  if (shipment.status !== ShipmentStatus.PENDING) return undefined;
  const projection = projectionOf(current, shipment, now);
  if (!projection || "refused" in projection) return projection;
  return [{ set: projection, event: plain(catalogue.orderUpdated, now) }];
}

/**
 * A shipment snapshot from shipping's events (created, status changed, cancelled), applied only when
 * newer than the one stored. The order follows its shipment and emits every milestone it passes, in
 * order, even when the events skipped one (DELIVERED seen first: shipped, then delivered).
 */
export function trackedShipment(current: StoredOrder, shipment: Shipment, occurTime: Date): OrderStep[] | ShipmentRefusal | undefined {
  const projection = projectionOf(current, shipment, occurTime);
  if (!projection || "refused" in projection) return projection;
  const updated = (set: Partial<OrderRow>): OrderStep[] => [{ set, event: plain(catalogue.orderUpdated, occurTime) }];
  const shipped: OrderStep = { set: { ...projection, status: "shipped", cancelReason: "" }, event: plain(catalogue.orderShipped, occurTime) };
  switch (projection.shipmentStatus) {
    case "pending":
      // A shipment exists, so the order is with shipping whatever dispatch concluded.
      return updated(current.status === "pending" || current.status === "dispatch_failed" ? { ...projection, status: "shipment_requested" } : projection);
    case "picked_up":
    case "in_transit":
      return beforePickup.has(current.status) ? [shipped] : updated(projection);
    case "delivered": {
      const delivered: OrderStep = { set: { status: "delivered" }, event: plain(catalogue.orderDelivered, occurTime) };
      if (beforePickup.has(current.status)) return [shipped, delivered];
      if (current.status === "shipped") return [{ ...delivered, set: { ...projection, status: "delivered" } }];
      return updated(projection);
    }
    case "cancelled": {
      if (current.status === "cancelling") return [{ set: { ...projection, status: "cancelled" }, event: withReason(catalogue.orderCancelled, occurTime) }];
      if (current.status === "pending" || current.status === "shipment_requested" || current.status === "dispatch_failed") {
        return [{ set: { ...projection, status: "cancelled", cancelReason: cancelledByShippingReason }, event: withReason(catalogue.orderCancelled, occurTime) }];
      }
      return updated(projection);
    }
  }
}

type Projection = Pick<OrderRow, "shipmentId" | "shipmentCarrier" | "shipmentTrackingNumber" | "shipmentUpdatedAt" | "shipmentVersion"> & {
  shipmentStatus: NonNullable<OrderRow["shipmentStatus"]>;
};

/**
 * The projection columns for a snapshot; undefined when it is not newer than the stored one. The first
 * snapshot is taken whatever its version (a shipping older than versioned shipments says 0).
 */
function projectionOf(current: StoredOrder, shipment: Shipment, fallbackTime: Date): Projection | ShipmentRefusal | undefined {
  if (current.shipmentStatus !== null && shipment.version <= current.shipmentVersion) return undefined;
  if (!isUuid(shipment.id)) return { refused: `shipment id ${JSON.stringify(shipment.id)} is not a UUID` };
  if (current.shipmentId !== null && current.shipmentId !== shipment.id) {
    return { refused: `order ${current.id} has shipment ${current.shipmentId}, not ${shipment.id}` };
  }
  const status = storedShipmentStatus(shipment.status);
  if (!status) return { refused: `shipment ${shipment.id} has status ${shipment.status}, which orders does not know` };
  return {
    shipmentId: shipment.id,
    shipmentStatus: status,
    shipmentCarrier: shipment.carrier,
    shipmentTrackingNumber: shipment.trackingNumber,
    shipmentUpdatedAt: shipment.updateTime ? timestampDate(shipment.updateTime) : fallbackTime,
    shipmentVersion: shipment.version,
  };
}
