import { describe, expect, it } from "vitest";
import { sampleOrder } from "../../tests/support/order-events.js";
import { buildOrderEmail, escapeHtml, moneyFormatter } from "./order-email.js";

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

  it("escapes customer-controlled text in the HTML body only", () => {
    const order = sampleOrder();
    const email = buildOrderEmail("cancelled", order, `<script>alert("x")</script>`);
    expect(email.subject).toBe(`Order #${order.id} cancelled`);
    expect(email.html).toContain("TEA-&lt;EARL&gt;");
    expect(email.html).not.toContain("<script>");
    expect(email.html).toContain("&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;");
    expect(email.text).toContain(`cancelled: <script>alert("x")</script>`);
  });
});

describe("moneyFormatter", () => {
  it("uses each currency's minor units and stays exact for large amounts", () => {
    expect(moneyFormatter("USD")(123456n)).toBe("$1,234.56");
    expect(moneyFormatter("JPY")(500n)).toBe("¥500");
    // Intl separates the code with a no-break space.
    expect(moneyFormatter("BHD")(1234n)).toBe("BHD\u00a01.234");
    expect(moneyFormatter("EUR")(900719925474099312n)).toBe("€9,007,199,254,740,993.12");
    expect(moneyFormatter("EUR")(5n)).toBe("€0.05");
  });

  it("falls back to the raw code for an unknown currency", () => {
    expect(moneyFormatter("not-a-code")(1999n)).toBe("19.99 not-a-code");
  });
});

describe("escapeHtml", () => {
  it("escapes the five HTML-significant characters", () => {
    expect(escapeHtml(`a&b<c>"d"'e'`)).toBe("a&amp;b&lt;c&gt;&quot;d&quot;&#39;e&#39;");
  });
});
