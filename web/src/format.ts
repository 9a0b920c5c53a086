import { timestampDate, type Timestamp } from "@bufbuild/protobuf/wkt";
import { type Address, type Order, OrderStatus } from "../../gen/orders/v1/orders_pb.js";
import { ShipmentStatus } from "../../gen/shipping/v1/shipping_pb.js";

const orderStatusLabels: Record<OrderStatus, string> = {
  [OrderStatus.UNSPECIFIED]: "Unknown",
  [OrderStatus.PENDING]: "Pending",
  [OrderStatus.SHIPMENT_REQUESTED]: "Shipment requested",
  [OrderStatus.CANCELLED]: "Cancelled",
  [OrderStatus.DISPATCH_FAILED]: "Dispatch failed",
  [OrderStatus.CANCELLING]: "Cancelling",
  [OrderStatus.SHIPPED]: "Shipped",
  [OrderStatus.DELIVERED]: "Delivered",
};

const shipmentStatusLabels: Record<ShipmentStatus, string> = {
  [ShipmentStatus.UNSPECIFIED]: "unknown",
  [ShipmentStatus.PENDING]: "waiting for pick-up",
  [ShipmentStatus.PICKED_UP]: "picked up",
  [ShipmentStatus.IN_TRANSIT]: "in transit",
  [ShipmentStatus.DELIVERED]: "delivered",
  [ShipmentStatus.CANCELLED]: "cancelled",
};

/** Human label of an order status, e.g. "Shipment requested". */
export function orderStatusLabel(status: OrderStatus): string {
  return orderStatusLabels[status] ?? `status ${status}`;
}

/** CSS class of an order status, e.g. "order-status-shipment-requested". */
export function orderStatusClass(status: OrderStatus): string {
  return `order-status-${(OrderStatus[status] ?? "unspecified").toLowerCase().replace(/_/g, "-")}`;
}

/** Amount in minor units as money in the browser's locale, e.g. 2500n EUR -> "€25.00", 500n JPY -> "¥500". */
export { formatMoney } from "../../services/platform/validation/money-format.js";

/** Local date and time of a timestamp, or "" when absent. */
export function formatTime(ts: Timestamp | undefined): string {
  return ts ? timestampDate(ts).toLocaleString(undefined, { dateStyle: "short", timeStyle: "short" }) : "";
}

/** One-line postal address. */
export function formatAddress(a: Address | undefined): string {
  if (!a) return "";
  return [a.name, a.line1, a.line2, `${a.postalCode} ${a.city}`.trim(), a.country].filter((part) => part !== "").join(", ");
}

/** "2 × BOOK-1, 1 × PEN-3". */
export function formatItems(order: Order): string {
  return order.items.map((i) => `${i.quantity} × ${i.sku}`).join(", ");
}

/** What is known of the order's shipment: shipping's live view, else only the id orders kept, else nothing yet. */
export function formatShipment(order: Order): string {
  if (order.shipment) return `${shipmentStatusLabels[order.shipment.status] ?? "unknown"} with ${order.shipment.carrier || "a carrier"}`;
  if (order.shipmentId) return `requested (${order.shipmentId}); shipping did not answer in time`;
  return "not requested yet";
}
