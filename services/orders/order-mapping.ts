import { create } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { type Order, OrderSchema, OrderStatus, type ShipmentSummary, ShipmentSummarySchema } from "../../gen/orders/v1/orders_pb.js";
import { ShipmentStatus } from "../../gen/shipping/v1/shipping_pb.js";
import type { OrderRow } from "./db/schema.js";
import type { StoredOrder } from "./order-store.js";

const statusToProto: Record<OrderRow["status"], OrderStatus> = {
  pending: OrderStatus.PENDING,
  shipment_requested: OrderStatus.SHIPMENT_REQUESTED,
  cancelled: OrderStatus.CANCELLED,
  dispatch_failed: OrderStatus.DISPATCH_FAILED,
  cancelling: OrderStatus.CANCELLING,
  shipped: OrderStatus.SHIPPED,
  delivered: OrderStatus.DELIVERED,
};

/** A shipment status as stored in orders' projection. */
export type StoredShipmentStatus = NonNullable<OrderRow["shipmentStatus"]>;

const shipmentStatusToProto: Record<StoredShipmentStatus, ShipmentStatus> = {
  pending: ShipmentStatus.PENDING,
  picked_up: ShipmentStatus.PICKED_UP,
  in_transit: ShipmentStatus.IN_TRANSIT,
  delivered: ShipmentStatus.DELIVERED,
  cancelled: ShipmentStatus.CANCELLED,
};

/** The stored name of a shipment status from shipping's events; undefined for UNSPECIFIED or one this build does not know. */
export function storedShipmentStatus(status: ShipmentStatus): StoredShipmentStatus | undefined {
  return (Object.keys(shipmentStatusToProto) as StoredShipmentStatus[]).find((s) => shipmentStatusToProto[s] === status);
}

/** Maps a stored order, its shipment projection included, to its protobuf message. */
export function orderToProto(row: StoredOrder): Order {
  return create(OrderSchema, {
    id: row.id,
    customerId: row.customerId,
    customerEmail: row.customerEmail,
    items: row.items,
    currency: row.currency,
    totalCents: row.totalCents,
    status: statusToProto[row.status],
    shippingAddress: row.shippingAddress,
    shipment: shipmentOf(row),
    createTime: timestampFromDate(row.createdAt),
    updateTime: timestampFromDate(row.updatedAt),
    requestId: row.requestId ?? "",
    cancelReason: row.cancelReason,
    shipmentId: row.shipmentId ?? "",
    version: row.version,
  });
}

function shipmentOf(row: StoredOrder): ShipmentSummary | undefined {
  if (!row.shipmentStatus || !row.shipmentId) return undefined;
  return create(ShipmentSummarySchema, {
    id: row.shipmentId,
    status: shipmentStatusToProto[row.shipmentStatus],
    carrier: row.shipmentCarrier,
    trackingNumber: row.shipmentTrackingNumber,
    updateTime: row.shipmentUpdatedAt ? timestampFromDate(row.shipmentUpdatedAt) : undefined,
  });
}
