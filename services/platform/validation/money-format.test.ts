import { describe, expect, it } from "vitest";
import { currencyMinorUnits, formatMoney, moneyFormatter } from "./money-format.js";

describe("formatMoney", () => {
  it("places the decimal point by the currency's ISO 4217 minor units", () => {
    expect(formatMoney(500n, "JPY", "en")).toBe("¥500");
    expect(formatMoney(1234n, "EUR", "en")).toBe("€12.34");
    expect(formatMoney(5n, "EUR", "en")).toBe("€0.05");
    // Intl separates the code with a no-break space.
    expect(formatMoney(1234n, "BHD", "en")).toBe("BHD\u00a01.234");
    expect(formatMoney(123456n, "USD", "en")).toBe("$1,234.56");
  });

  it("stays exact for amounts beyond 2^53", () => {
    expect(formatMoney(900719925474099312n, "EUR", "en")).toBe("€9,007,199,254,740,993.12");
    expect(formatMoney(9007199254740993n, "JPY", "en")).toBe("¥9,007,199,254,740,993");
    expect(formatMoney(9007199254740993n, "BHD", "en")).toBe("BHD\u00a09,007,199,254,740.993");
    expect(formatMoney(-5n, "EUR", "en")).toBe("-€0.05");
  });

  it("follows the locale, and the runtime's own when none is given", () => {
    expect(formatMoney(123456n, "EUR", "de")).toBe("1.234,56\u00a0€");
    expect(formatMoney(500n, "JPY")).toBe(new Intl.NumberFormat(undefined, { style: "currency", currency: "JPY" }).format(500));
  });

  it("falls back to two decimals and the raw code for an unknown currency", () => {
    expect(formatMoney(1999n, "not-a-code", "en")).toBe("19.99 not-a-code");
    expect(formatMoney(-5n, "not-a-code", "en")).toBe("-0.05 not-a-code");
  });
});

describe("moneyFormatter", () => {
  it("formats many amounts of one currency alike", () => {
    const yen = moneyFormatter("JPY", "en");
    expect([1n, 500n, 12345n].map(yen)).toEqual(["¥1", "¥500", "¥12,345"]);
  });
});

describe("currencyMinorUnits", () => {
  it("is the ISO 4217 exponent, and two for an unknown code", () => {
    expect(["JPY", "EUR", "BHD", "not-a-code"].map(currencyMinorUnits)).toEqual([0, 2, 3, 2]);
  });
});
