import { describe, expect, it } from "vitest";
import { formatMoney as sharedFormatMoney } from "../services/platform/validation/index.js";
import { formatMoney } from "../web/src/format.js";

// The page itself needs a browser (tests/browser.test.ts); its formatting is plain code, checked here.
describe("web page money", () => {
  it("is the shared formatter, so the page and the emails agree", () => {
    expect(formatMoney).toBe(sharedFormatMoney);
  });

  it("shows currencies without or with three minor units correctly", () => {
    expect(formatMoney(500n, "JPY", "en")).toBe("¥500");
    expect(formatMoney(1234n, "BHD", "en")).toBe("BHD\u00a01.234");
    expect(formatMoney(2500n, "EUR", "en")).toBe("€25.00");
  });
});
