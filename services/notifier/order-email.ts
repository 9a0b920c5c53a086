import type { Order } from "../../gen/orders/v1/orders_pb.js";
import { moneyFormatter } from "../platform/validation/index.js";
import type { NotificationKind } from "./db/schema.js";

/** The content of one order email. */
export interface OrderEmail {
  subject: string;
  text: string;
  html: string;
}

/** What a milestone's email says beyond the order itself. */
export interface MilestoneDetails {
  /** Why the order was cancelled (cancelled). */
  cancelReason?: string;
}

interface Milestone {
  subject(orderId: string): string;
  /** The opening sentence. */
  intro(details: MilestoneDetails): string;
  /** Labelled facts shown under the intro, e.g. the carrier; empty values are left out. */
  facts(order: Order): Array<[label: string, value: string]>;
}

const milestones: Record<NotificationKind, Milestone> = {
  created: {
    subject: (id) => `Order #${id} confirmed`,
    intro: () => "Thank you for your order. We have received it and will ship it soon.",
    facts: () => [],
  },
  shipped: {
    subject: (id) => `Order #${id} shipped`,
    intro: () => "Your order is on its way.",
    // The shipment as orders knew it when the parcel was picked up; an empty field is not shown.
    facts: (order) => [
      ["Carrier", order.shipment?.carrier ?? ""],
      ["Tracking number", order.shipment?.trackingNumber ?? ""],
    ],
  },
  delivered: {
    subject: (id) => `Order #${id} delivered`,
    intro: () => "Your order has been delivered. We hope you enjoy it.",
    facts: (order) => [["Carrier", order.shipment?.carrier ?? ""]],
  },
  cancelled: {
    subject: (id) => `Order #${id} cancelled`,
    intro: ({ cancelReason }) => `Your order has been cancelled${cancelReason ? `: ${cancelReason}` : "."}`,
    facts: () => [],
  },
};

/** Builds the email of an order's milestone: what happened, its facts (carrier, tracking), its lines and total. */
export function buildOrderEmail(kind: NotificationKind, order: Order, details: MilestoneDetails = {}): OrderEmail {
  const milestone = milestones[kind];
  // The emails are written in English, so amounts read the English way whatever the server's locale.
  const money = moneyFormatter(order.currency, "en");
  const lines = order.items.map((item) => ({
    sku: item.sku,
    quantity: item.quantity,
    unit: money(item.unitPriceCents),
    total: money(item.unitPriceCents * BigInt(item.quantity)),
  }));
  const total = money(order.totalCents);
  const subject = milestone.subject(order.id);
  const intro = milestone.intro(details);
  const facts = milestone.facts(order).filter(([, value]) => value !== "");

  const text = [
    intro,
    "",
    ...(facts.length > 0 ? [...facts.map(([label, value]) => `${label}: ${value}`), ""] : []),
    ...lines.map((l) => `${l.quantity} x ${l.sku} @ ${l.unit} = ${l.total}`),
    "",
    `Total: ${total}`,
    "",
    `Order: ${order.id}`,
  ].join("\n");

  const rows = lines
    .map((l) => `<tr><td>${escapeHtml(l.sku)}</td><td align="right">${l.quantity}</td><td align="right">${escapeHtml(l.unit)}</td><td align="right">${escapeHtml(l.total)}</td></tr>`)
    .join("\n");
  const factList = facts.length > 0 ? `\n<p>${facts.map(([label, value]) => `${escapeHtml(label)}: <strong>${escapeHtml(value)}</strong>`).join("<br>\n")}</p>` : "";
  const html = `<!doctype html>
<html><body>
<p>${escapeHtml(intro)}</p>${factList}
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
