import { describe, expect, it } from "vitest";
import { parsePrice, priceExample } from "../web/src/price-input.js";

// The form itself needs a browser (tests/browser.test.ts); how it reads a typed price is plain code, checked here.
describe("web page price input", () => {
  it("reads a typed price in the currency's minor units", () => {
    expect(parsePrice("500", "JPY")).toBe(500n);
    expect(parsePrice("12.50", "EUR")).toBe(1250n);
    expect(parsePrice("12,5", "EUR")).toBe(1250n);
    expect(parsePrice("12", "EUR")).toBe(1200n);
    expect(parsePrice("1.234", "BHD")).toBe(1234n);
    expect(parsePrice("90071992547409.93", "EUR")).toBe(9007199254740993n);
  });

  it("refuses more decimals than the currency has, signs and other text", () => {
    expect(parsePrice("500.5", "JPY")).toBeUndefined();
    expect(parsePrice("12.505", "EUR")).toBeUndefined();
    expect(parsePrice("1.2345", "BHD")).toBeUndefined();
    expect(parsePrice("-1", "EUR")).toBeUndefined();
    expect(parsePrice("12.", "EUR")).toBeUndefined();
    expect(parsePrice("", "EUR")).toBeUndefined();
  });

  it("takes two decimals for an unknown currency code, as the page shows it", () => {
    expect(parsePrice("19.99", "not-a-code")).toBe(1999n);
  });

  it("gives an example price that it accepts", () => {
    for (const currency of ["JPY", "EUR", "BHD"]) expect(parsePrice(priceExample(currency), currency)).toBeDefined();
    expect([priceExample("JPY"), priceExample("EUR"), priceExample("BHD")]).toEqual(["12", "12.50", "12.500"]);
  });
});
