import { currencyMinorUnits } from "../../services/platform/validation/money-format.js";

/**
 * A typed price in minor units of the currency: "12.50" EUR -> 1250n, "500" JPY -> 500n, "1.234" BHD
 * -> 1234n; undefined for anything but a non-negative amount with at most the currency's decimals.
 */
export function parsePrice(text: string, currency: string): bigint | undefined {
  const digits = currencyMinorUnits(currency);
  const match = /^(\d+)(?:[.,](\d+))?$/.exec(text);
  const fraction = match?.[2] ?? "";
  if (!match || fraction.length > digits) return undefined;
  return BigInt(match[1]!) * 10n ** BigInt(digits) + BigInt(fraction.padEnd(digits, "0") || "0");
}

/** An example of a price as parsePrice takes it in the currency, for the form's error message: "12", "12.50", "12.500". */
export function priceExample(currency: string): string {
  const digits = currencyMinorUnits(currency);
  return digits === 0 ? "12" : `12.${"5".padEnd(digits, "0")}`;
}
