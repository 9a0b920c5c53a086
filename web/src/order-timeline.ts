import { type Order, OrderStatus } from "../../gen/orders/v1/orders_pb.js";

/** Where a step of the timeline stands for the order. */
export type StepState = "done" | "current" | "upcoming";

/** One step of an order's life as the timeline shows it. */
export interface TimelineStep {
  /** Stable name, e.g. "shipped" (the list item's data-step). */
  key: "placed" | "shipment_requested" | "shipped" | "delivered" | "cancelling" | "cancelled" | "dispatch_failed";
  label: string;
  state: StepState;
  /** What the step adds: carrier and tracking number, the cancel reason. */
  detail: string;
}

/**
 * The steps of an order's life up to its status and, while it is not final, the steps it is expected
 * to take next: placed -> shipment requested -> shipped -> delivered, or -> cancelling -> cancelled.
 * A step passed without being seen (the page opened late, a change coalesced) is still shown done.
 */
export function timelineSteps(order: Order): TimelineStep[] {
  const handedOver = order.shipmentId !== "" || order.shipment !== undefined;
  const step = (key: TimelineStep["key"], state: StepState): TimelineStep => ({ key, label: labels[key], state, detail: detailOf(key, order) });
  const along = (keys: TimelineStep["key"][], current: number) => keys.map((key, i) => step(key, i < current ? "done" : i === current ? "current" : "upcoming"));
  const delivery: TimelineStep["key"][] = ["placed", "shipment_requested", "shipped", "delivered"];
  switch (order.status) {
    case OrderStatus.SHIPMENT_REQUESTED:
      return along(delivery, 1);
    case OrderStatus.SHIPPED:
      return along(delivery, 2);
    case OrderStatus.DELIVERED:
      return along(delivery, 3);
    case OrderStatus.CANCELLING:
      return along(["placed", "shipment_requested", "cancelling", "cancelled"], 2);
    case OrderStatus.CANCELLED:
      // Cancelled before the hand-off at once; after it, through cancelling (the shipment was cancelled first).
      return handedOver ? along(["placed", "shipment_requested", "cancelling", "cancelled"], 3) : along(["placed", "cancelled"], 1);
    case OrderStatus.DISPATCH_FAILED:
      return along(["placed", "dispatch_failed"], 1);
    default:
      return along(delivery, 0);
  }
}

/** Whether CancelOrder may still cancel the order (until the carrier picks the parcel up). */
export function isCancellable(order: Order): boolean {
  return order.status === OrderStatus.PENDING || order.status === OrderStatus.SHIPMENT_REQUESTED || order.status === OrderStatus.DISPATCH_FAILED;
}

const labels: Record<TimelineStep["key"], string> = {
  placed: "Placed",
  shipment_requested: "Shipment requested",
  shipped: "Shipped",
  delivered: "Delivered",
  cancelling: "Cancelling",
  cancelled: "Cancelled",
  dispatch_failed: "Dispatch failed",
};

function detailOf(key: TimelineStep["key"], order: Order): string {
  const shipment = order.shipment;
  if ((key === "shipped" || key === "delivered") && shipment && (key === "shipped" || order.status === OrderStatus.DELIVERED)) {
    return [shipment.carrier, shipment.trackingNumber && `tracking ${shipment.trackingNumber}`].filter(Boolean).join(", ");
  }
  if (key === "cancelled" && order.status === OrderStatus.CANCELLED) return order.cancelReason;
  if (key === "cancelling" && order.status === OrderStatus.CANCELLING) return "waiting for shipping to cancel the shipment";
  if (key === "dispatch_failed" && order.status === OrderStatus.DISPATCH_FAILED) return "shipping could not take the order; it can still be cancelled";
  return "";
}
