import type { CreateOrderRequest } from "../../gen/orders/v1/orders_pb.js";
import { validateAddress } from "../platform/validation/index.js";
import { itemLimits, validateItems } from "../platform/validation/index.js";
import { invalidArgument, type FieldViolation } from "../platform/rpc/index.js";
import { limitText, maxIdLength, requireText } from "../platform/validation/index.js";

/** Limits of CreateOrder, documented on the proto fields (address limits: platform/validation/address-validation.ts). */
export const limits = {
  ...itemLimits,
  maxIdLength,
  maxEmailLength: 254,
  // 10^11 cents per unit keeps 1000 lines x 10000 units below int64's 9.2 x 10^18.
  maxUnitPriceCents: 100_000_000_000n,
  maxReasonLength: 500,
} as const;

const currencies = new Set(Intl.supportedValuesOf("currency"));
// Deliberately loose: one @, no spaces, a dot in the domain. Real validation is the confirmation email.
const emailPattern = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;

/** Checks every field of CreateOrderRequest; throws INVALID_ARGUMENT listing each bad field. */
export function validateCreateOrder(req: CreateOrderRequest): void {
  const v: FieldViolation[] = [];
  requireText(v, "customer_id", req.customerId, limits.maxIdLength);
  if (!emailPattern.test(req.customerEmail) || req.customerEmail.length > limits.maxEmailLength) {
    v.push({ field: "customer_email", description: "must be a plausible email address like name@example.com" });
  }
  if (!/^[A-Z]{3}$/.test(req.currency) || !currencies.has(req.currency)) {
    v.push({ field: "currency", description: "must be an ISO 4217 code of three upper-case letters, e.g. EUR" });
  }
  validateItems(v, req.items, (item, path) => {
    if (item.unitPriceCents < 0n || item.unitPriceCents > limits.maxUnitPriceCents) {
      v.push({ field: `${path}.unit_price_cents`, description: `must be between 0 and ${limits.maxUnitPriceCents}` });
    }
  });
  validateAddress(v, "shipping_address", req.shippingAddress);
  limitText(v, "request_id", req.requestId, limits.maxIdLength);
  if (v.length > 0) throw invalidArgument(v);
}
