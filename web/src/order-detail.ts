import { timestampDate } from "@bufbuild/protobuf/wkt";
import type { Order } from "../../gen/orders/v1/orders_pb.js";
import { formatAddress, formatItems, formatMoney, formatShipment, orderStatusClass, orderStatusLabel } from "./format.js";
import { byId } from "./order-form.js";
import { isCancellable, timelineSteps } from "./order-timeline.js";
import { renderTimeline } from "./timeline-view.js";

/** The panel of the watched order: its live timeline, status, shipment and tracking number, and Cancel. */
export class OrderDetail {
  private readonly panel = byId("order-detail");
  private readonly error = byId("detail-error");
  private readonly watchState = byId("watch-state");
  private readonly timeline = byId<HTMLOListElement>("timeline");
  private readonly cancel = byId<HTMLButtonElement>("cancel-order");
  private shown: Order | undefined;
  // When each step was first seen for the shown order (its update_time), for the timeline.
  private seenAt = new Map<string, string>();

  constructor(onCancel: (id: string) => Promise<void>) {
    this.cancel.addEventListener("click", () => {
      const order = this.shown;
      if (!order) return;
      this.cancel.disabled = true;
      this.error.textContent = "";
      void onCancel(order.id).finally(() => (this.cancel.disabled = false));
    });
  }

  /** Shows an order as its watch last delivered it. */
  show(order: Order): void {
    if (this.shown?.id !== order.id) this.seenAt = new Map();
    this.shown = order;
    this.panel.hidden = false;
    byId("detail-id").textContent = order.id;
    const status = byId("detail-status");
    status.textContent = orderStatusLabel(order.status);
    status.className = `badge ${orderStatusClass(order.status)}`;
    byId("detail-total").textContent = `${formatMoney(order.totalCents, order.currency)} (${formatItems(order)})`;
    byId("detail-address").textContent = formatAddress(order.shippingAddress);
    byId("detail-shipment").textContent = formatShipment(order);
    byId("detail-tracking").textContent = order.shipment?.trackingNumber || "—";
    const steps = timelineSteps(order);
    const current = steps.find((s) => s.state === "current");
    if (current && !this.seenAt.has(current.key) && order.updateTime) this.seenAt.set(current.key, timestampDate(order.updateTime).toISOString());
    renderTimeline(this.timeline, steps, this.seenAt);
    this.cancel.hidden = !isCancellable(order);
    // The console lives on the page server of `npm start`, the one that hands the page its ?api=.
    const trace = byId<HTMLAnchorElement>("detail-trace");
    trace.href = `/console?order=${encodeURIComponent(order.id)}`;
    trace.hidden = !new URLSearchParams(window.location.search).has("api");
    this.watchState.textContent = "Live: changes appear as they happen.";
    this.error.textContent = "";
  }

  /** The watch ended on a final status. */
  showFinal(): void {
    this.watchState.textContent = "Final: this order will not change any more.";
  }

  /** The watch failed; the last known state stays on screen. */
  showWatchError(summary: string, retryInMs: number | undefined): void {
    this.watchState.textContent =
      retryInMs === undefined ? "Not watching." : `Connection lost; reconnecting in ${Math.max(1, Math.round(retryInMs / 1000))} s.`;
    this.error.textContent = summary;
  }

  /** A Cancel that failed (e.g. FAILED_PRECONDITION once the carrier picked the parcel up). */
  showCancelError(summary: string): void {
    this.error.textContent = `Cancel failed: ${summary}`;
  }
}
