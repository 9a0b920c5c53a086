// Shared by the notifier and the browser page (web/ imports it), so it must stay plain ECMAScript:
// no node: imports, no DOM. `tsc -p web` type-checks it without Node types and fails if it is not.

// Building an Intl.NumberFormat costs far more than formatting with one (ICU loads the locale data):
// once per locale and currency instead of once per amount. ISO 4217 bounds the cache to a few hundred
// entries per locale, and locales come from code, not from clients.
const formatters = new Map<string, (minorUnits: bigint) => string>();
let knownCurrencies: ReadonlySet<string> | undefined;

/**
 * Formats amounts in minor units of a currency, e.g. 1234n EUR -> "€12.34", 500n JPY -> "¥500",
 * 1234n BHD -> "BHD 1.234"; locale undefined means the runtime's (the browser's on the page).
 */
export function moneyFormatter(currency: string, locale?: string): (minorUnits: bigint) => string {
  const key = `${locale ?? ""} ${currency}`;
  let money = formatters.get(key);
  if (!money) {
    money = createMoneyFormatter(currency, locale);
    knownCurrencies ??= new Set(Intl.supportedValuesOf("currency"));
    // Unknown codes are not cached: arbitrary client strings must not grow the map.
    if (knownCurrencies.has(currency)) formatters.set(key, money);
  }
  return money;
}

/** Formats one amount in minor units of a currency; see moneyFormatter. */
export function formatMoney(minorUnits: bigint, currency: string, locale?: string): string {
  return moneyFormatter(currency, locale)(minorUnits);
}

function createMoneyFormatter(currency: string, locale: string | undefined): (minorUnits: bigint) => string {
  let format: Intl.NumberFormat;
  try {
    format = new Intl.NumberFormat(locale, { style: "currency", currency });
  } catch {
    // An unknown code must not stop an email or a page; show the amount with the code as given.
    return (minor) => `${decimalString(minor, 2)} ${currency}`;
  }
  const digits = currencyMinorUnits(currency);
  return (minor) => format.format(decimalString(minor, digits));
}

/** Digits after the decimal point of a currency per ISO 4217 (JPY 0, EUR 2, BHD 3); 2 for an unknown code. */
export function currencyMinorUnits(currency: string): number {
  try {
    // Intl knows the ISO 4217 exponent of every code it supports; the locale does not change it.
    return new Intl.NumberFormat("en", { style: "currency", currency }).resolvedOptions().maximumFractionDigits ?? 2;
  } catch {
    return 2;
  }
}

// An exact decimal string from bigint minor units: Intl formats a numeric string without going
// through a float, so totals beyond 2^53 keep their last digits.
function decimalString(minor: bigint, digits: number): Intl.StringNumericLiteral {
  const negative = minor < 0n;
  const abs = (negative ? -minor : minor).toString().padStart(digits + 1, "0");
  const whole = abs.slice(0, abs.length - digits);
  const frac = digits > 0 ? `.${abs.slice(abs.length - digits)}` : "";
  return `${negative ? "-" : ""}${whole}${frac}` as Intl.StringNumericLiteral;
}
