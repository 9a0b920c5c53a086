import type { Order } from "../../gen/orders/v1/orders_pb.js";
import { formatAddress, formatItems, formatMoney, formatShipment, orderStatusClass, orderStatusLabel } from "./format.js";
import { byId } from "./order-form.js";

/** The panel of the watched order: status, shipment and tracking number as they change. */
export class OrderDetail {
  private readonly panel = byId("order-detail");
  private readonly error = byId("detail-error");
  private readonly refreshed = byId("detail-refreshed");

  /** Shows an order, as the latest GetOrder returned it. */
  show(order: Order): void {
    this.panel.hidden = false;
    byId("detail-id").textContent = order.id;
    const status = byId("detail-status");
    status.textContent = orderStatusLabel(order.status);
    status.className = `badge ${orderStatusClass(order.status)}`;
    byId("detail-total").textContent = `${formatMoney(order.totalCents, order.currency)} (${formatItems(order)})`;
    byId("detail-address").textContent = formatAddress(order.shippingAddress);
    byId("detail-shipment").textContent = formatShipment(order);
    byId("detail-tracking").textContent = order.shipment?.trackingNumber || "—";
    this.refreshed.textContent = `Watching: refreshed every second, last at ${new Date().toLocaleTimeString()}.`;
    this.error.textContent = "";
  }

  /** Shows why the last refresh failed, keeping the last known state on screen. */
  showError(summary: string): void {
    this.error.textContent = `Refresh failed: ${summary}`;
  }
}
