import type { Address, CreateOrderRequest } from "../../gen/orders/v1/orders_pb.js";
import { invalidArgument, type FieldViolation } from "../platform/rpc-errors.js";

/** Limits of CreateOrder, documented on the proto fields. */
export const limits = {
  maxItems: 1000,
  maxQuantity: 10_000,
  maxSkuLength: 64,
  maxIdLength: 128,
  maxTextLength: 200,
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
  text(v, "customer_id", req.customerId, limits.maxIdLength);
  if (!emailPattern.test(req.customerEmail) || req.customerEmail.length > limits.maxEmailLength) {
    v.push({ field: "customer_email", description: "must be a plausible email address like name@example.com" });
  }
  if (!/^[A-Z]{3}$/.test(req.currency) || !currencies.has(req.currency)) {
    v.push({ field: "currency", description: "must be an ISO 4217 code of three upper-case letters, e.g. EUR" });
  }
  if (req.items.length === 0) v.push({ field: "items", description: "needs at least one item" });
  if (req.items.length > limits.maxItems) v.push({ field: "items", description: `at most ${limits.maxItems} items` });
  req.items.forEach((item, i) => {
    if (item.sku.trim() === "" || item.sku.length > limits.maxSkuLength) {
      v.push({ field: `items[${i}].sku`, description: `must be 1 to ${limits.maxSkuLength} characters` });
    }
    if (item.quantity < 1 || item.quantity > limits.maxQuantity) {
      v.push({ field: `items[${i}].quantity`, description: `must be between 1 and ${limits.maxQuantity}` });
    }
    if (item.unitPriceCents < 0n || item.unitPriceCents > limits.maxUnitPriceCents) {
      v.push({ field: `items[${i}].unit_price_cents`, description: `must be between 0 and ${limits.maxUnitPriceCents}` });
    }
  });
  validateAddress(v, req.shippingAddress);
  if (req.requestId.length > limits.maxIdLength) {
    v.push({ field: "request_id", description: `must be at most ${limits.maxIdLength} characters` });
  }
  if (v.length > 0) throw invalidArgument(v);
}

function validateAddress(v: FieldViolation[], address: Address | undefined): void {
  if (!address) {
    v.push({ field: "shipping_address", description: "is required" });
    return;
  }
  text(v, "shipping_address.name", address.name, limits.maxTextLength);
  text(v, "shipping_address.line1", address.line1, limits.maxTextLength);
  if (address.line2.length > limits.maxTextLength) {
    v.push({ field: "shipping_address.line2", description: `must be at most ${limits.maxTextLength} characters` });
  }
  text(v, "shipping_address.city", address.city, limits.maxTextLength);
  text(v, "shipping_address.postal_code", address.postalCode, 20);
  if (!/^[A-Z]{2}$/.test(address.country)) {
    v.push({ field: "shipping_address.country", description: "must be an ISO 3166-1 alpha-2 code, e.g. DE" });
  }
}

function text(v: FieldViolation[], field: string, value: string, max: number): void {
  if (value.trim() === "") v.push({ field, description: "is required" });
  else if (value.length > max) v.push({ field, description: `must be at most ${max} characters` });
}
