import { describe, expect, it } from "vitest";
import { sampleEvent, sampleOrder, sampleShipment } from "../../tests/support/order-events.js";
import { buildOrderEmail, escapeHtml } from "./order-email.js";

describe("buildOrderEmail", () => {
  it("confirms an order with its lines and total in the order's currency", () => {
    const order = sampleOrder({ currency: "EUR" });
    const email = buildOrderEmail("created", order);
    expect(email.subject).toBe(`Order #${order.id} confirmed`);
    expect(email.text).toContain("2 x MUG-BLUE @ €12.50 = €25.00");
    expect(email.text).toContain("1 x TEA-<EARL> @ €3.99 = €3.99");
    expect(email.text).toContain("Total: €28.99");
    expect(email.html).toContain("€28.99");
  });

  it("shows amounts by the currency's minor units: none for JPY, three for BHD", () => {
    const yen = buildOrderEmail("created", sampleOrder({ currency: "JPY" }));
    expect(yen.text).toContain("2 x MUG-BLUE @ ¥1,250 = ¥2,500");
    expect(yen.text).toContain("Total: ¥2,899");
    expect(yen.html).toContain("¥2,899");
    const dinar = buildOrderEmail("created", sampleOrder({ currency: "BHD" }));
    expect(dinar.text).toContain("2 x MUG-BLUE @ BHD\u00a01.250 = BHD\u00a02.500");
    expect(dinar.text).toContain("Total: BHD\u00a02.899");
  });

  it("keeps a total beyond 2^53 minor units exact", () => {
    const order = sampleOrder({ currency: "EUR", items: [{ sku: "YACHT", quantity: 3, unitPriceCents: 300239975158033104n }] });
    const email = buildOrderEmail("created", order);
    expect(email.text).toContain("3 x YACHT @ €3,002,399,751,580,331.04 = €9,007,199,254,740,993.12");
    expect(email.text).toContain("Total: €9,007,199,254,740,993.12");
  });

  it("escapes customer-controlled text in the HTML body only", () => {
    const order = sampleOrder();
    const email = buildOrderEmail("cancelled", order, { cancelReason: `<script>alert("x")</script>` });
    expect(email.subject).toBe(`Order #${order.id} cancelled`);
    expect(email.html).toContain("TEA-&lt;EARL&gt;");
    expect(email.html).not.toContain("<script>");
    expect(email.html).toContain("&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;");
    expect(email.text).toContain(`cancelled: <script>alert("x")</script>`);
  });
});

describe("buildOrderEmail for shipped and delivered", () => {
  it("announces the shipment with its carrier and tracking number, escaped in HTML", () => {
    const { order } = sampleEvent("shipped", sampleOrder({ currency: "EUR" }));
    const email = buildOrderEmail("shipped", order);
    expect(email.subject).toBe(`Order #${order.id} shipped`);
    expect(email.text).toContain("Your order is on its way.");
    expect(email.text).toContain(`Carrier: ${sampleShipment.carrier}`);
    expect(email.text).toContain(`Tracking number: ${sampleShipment.trackingNumber}`);
    expect(email.text).toContain("Total: €28.99");
    expect(email.html).toContain("Carrier: <strong>ParcelCo &lt;Express&gt;</strong>");
    expect(email.html).toContain("Tracking number: <strong>PC-1234&amp;5</strong>");
    expect(email.html).not.toContain("<Express>");
  });

  it("leaves out shipment facts the order does not have", () => {
    const order = sampleOrder();
    const email = buildOrderEmail("shipped", order);
    expect(email.text).not.toContain("Carrier");
    expect(email.text).not.toContain("Tracking number");
    expect(email.html).not.toContain("<strong>");
  });

  it("announces the delivery with the order's lines and total", () => {
    const { order } = sampleEvent("delivered", sampleOrder({ currency: "JPY" }));
    const email = buildOrderEmail("delivered", order);
    expect(email.subject).toBe(`Order #${order.id} delivered`);
    expect(email.text).toContain("Your order has been delivered.");
    expect(email.text).toContain(`Carrier: ${sampleShipment.carrier}`);
    expect(email.text).toContain("Total: ¥2,899");
    expect(email.html).toContain("TEA-&lt;EARL&gt;");
  });
});

describe("escapeHtml", () => {
  it("escapes the five HTML-significant characters", () => {
    expect(escapeHtml(`a&b<c>"d"'e'`)).toBe("a&amp;b&lt;c&gt;&quot;d&quot;&#39;e&#39;");
  });
});
