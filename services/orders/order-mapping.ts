import { create } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { type Order, OrderSchema, OrderStatus, type ShipmentSummary } from "../../gen/orders/v1/orders_pb.js";
import type { OrderRow } from "./db/schema.js";
import type { StoredOrder } from "./order-store.js";

const statusToProto: Record<OrderRow["status"], OrderStatus> = {
  pending: OrderStatus.PENDING,
  shipment_requested: OrderStatus.SHIPMENT_REQUESTED,
  cancelled: OrderStatus.CANCELLED,
  dispatch_failed: OrderStatus.DISPATCH_FAILED,
};

/** Maps a stored order (and the shipment shipping reported, if any) to its protobuf message. */
export function orderToProto(row: StoredOrder, shipment?: ShipmentSummary): Order {
  return create(OrderSchema, {
    id: row.id,
    customerId: row.customerId,
    customerEmail: row.customerEmail,
    items: row.items,
    currency: row.currency,
    totalCents: row.totalCents,
    status: statusToProto[row.status],
    shippingAddress: row.shippingAddress,
    shipment,
    createTime: timestampFromDate(row.createdAt),
    updateTime: timestampFromDate(row.updatedAt),
    requestId: row.requestId ?? "",
    cancelReason: row.cancelReason,
    shipmentId: row.shipmentId ?? "",
  });
}
