import type { Order } from "../../gen/orders/v1/orders_pb.js";
import { moneyFormatter } from "../platform/validation/index.js";
import type { NotificationKind } from "./db/schema.js";

/** The content of one order email. */
export interface OrderEmail {
  subject: string;
  text: string;
  html: string;
}

/** Builds the confirmation or cancellation email of an order: its lines and total, in its currency. */
export function buildOrderEmail(kind: NotificationKind, order: Order, cancelReason = ""): OrderEmail {
  // The emails are written in English, so amounts read the English way whatever the server's locale.
  const money = moneyFormatter(order.currency, "en");
  const lines = order.items.map((item) => ({
    sku: item.sku,
    quantity: item.quantity,
    unit: money(item.unitPriceCents),
    total: money(item.unitPriceCents * BigInt(item.quantity)),
  }));
  const total = money(order.totalCents);
  const subject = kind === "created" ? `Order #${order.id} confirmed` : `Order #${order.id} cancelled`;
  const intro =
    kind === "created"
      ? "Thank you for your order. We have received it and will ship it soon."
      : `Your order has been cancelled${cancelReason ? `: ${cancelReason}` : "."}`;

  const text = [
    intro,
    "",
    ...lines.map((l) => `${l.quantity} x ${l.sku} @ ${l.unit} = ${l.total}`),
    "",
    `Total: ${total}`,
    "",
    `Order: ${order.id}`,
  ].join("\n");

  const rows = lines
    .map((l) => `<tr><td>${escapeHtml(l.sku)}</td><td align="right">${l.quantity}</td><td align="right">${escapeHtml(l.unit)}</td><td align="right">${escapeHtml(l.total)}</td></tr>`)
    .join("\n");
  const html = `<!doctype html>
<html><body>
<p>${escapeHtml(intro)}</p>
<table>
<thead><tr><th align="left">Item</th><th>Qty</th><th>Unit price</th><th>Amount</th></tr></thead>
<tbody>
${rows}
</tbody>
<tfoot><tr><th align="left" colspan="3">Total</th><th align="right">${escapeHtml(total)}</th></tr></tfoot>
</table>
<p>Order ${escapeHtml(order.id)}</p>
</body></html>`;
  return { subject, text, html };
}

/** Escapes text for HTML element content and attribute values. */
export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]!);
}
