import type { Order } from "../../gen/orders/v1/orders_pb.js";
import type { NotificationKind } from "./db/schema.js";

/** The content of one order email. */
export interface OrderEmail {
  subject: string;
  text: string;
  html: string;
}

/** Builds the confirmation or cancellation email of an order: its lines and total, in its currency. */
export function buildOrderEmail(kind: NotificationKind, order: Order, cancelReason = ""): OrderEmail {
  const money = moneyFormatter(order.currency);
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

// Building an Intl.NumberFormat costs far more than formatting with one (ICU loads the locale data):
// once per currency instead of once per email. ISO 4217 bounds the cache to a few hundred entries.
const formatters = new Map<string, (minorUnits: bigint) => string>();

/** Formats minor units in a currency, e.g. 1234n EUR -> "€12.34", 500n JPY -> "¥500". */
export function moneyFormatter(currency: string): (minorUnits: bigint) => string {
  let money = formatters.get(currency);
  if (!money) {
    money = createMoneyFormatter(currency);
    // Unknown codes are not cached: arbitrary client strings must not grow the map.
    if (Intl.supportedValuesOf("currency").includes(currency)) formatters.set(currency, money);
  }
  return money;
}

function createMoneyFormatter(currency: string): (minorUnits: bigint) => string {
  let format: Intl.NumberFormat;
  try {
    format = new Intl.NumberFormat("en", { style: "currency", currency });
  } catch {
    // An unknown code must not stop the email; show the amount with the code as given.
    return (minor) => `${formatMinor(minor, 2)} ${currency}`;
  }
  // Minor units per currency differ (JPY has none, BHD three); Intl knows the ISO 4217 exponent.
  const digits = format.resolvedOptions().maximumFractionDigits ?? 2;
  return (minor) => format.format(formatMinor(minor, digits) as unknown as number);
}

// Exact decimal string from bigint minor units, so large totals do not lose cents to floating point.
function formatMinor(minor: bigint, digits: number): string {
  const negative = minor < 0n;
  const abs = (negative ? -minor : minor).toString().padStart(digits + 1, "0");
  const whole = abs.slice(0, abs.length - digits);
  const frac = digits > 0 ? `.${abs.slice(abs.length - digits)}` : "";
  return `${negative ? "-" : ""}${whole}${frac}`;
}

/** Escapes text for HTML element content and attribute values. */
export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]!);
}
