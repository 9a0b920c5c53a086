import type { FieldViolation } from "../rpc/rpc-errors.js";

/** Limits of a list of ordered or shipped items (stated on the proto fields). */
export const itemLimits = {
  maxItems: 1000,
  maxQuantity: 10_000,
  maxSkuLength: 64,
} as const;

/** The fields orders.v1.LineItem and shipping.v1.ShipmentItem share. */
export interface CountedItem {
  sku: string;
  quantity: number;
}

/**
 * Adds a violation to v for a list of items that is empty or too long and for each bad sku or quantity,
 * named "items[i].sku"; check adds a service's own rules for item i at its path "items[i]". A list over
 * the count limit gets that one violation and no per-item checks: looking at 100,000 lines the service
 * refuses anyway costs CPU and memory an attacker chooses.
 */
export function validateItems<T extends CountedItem>(v: FieldViolation[], items: readonly T[], check?: (item: T, path: string) => void): void {
  if (items.length === 0) v.push({ field: "items", description: "needs at least one item" });
  if (items.length > itemLimits.maxItems) {
    // No count: lists are cut to maxItems + 1 before decoding (list-caps.ts), so the length is not the caller's.
    v.push({ field: "items", description: `at most ${itemLimits.maxItems} items` });
    return;
  }
  items.forEach((item, i) => {
    const path = `items[${i}]`;
    if (item.sku.trim() === "" || item.sku.length > itemLimits.maxSkuLength) {
      v.push({ field: `${path}.sku`, description: `must be 1 to ${itemLimits.maxSkuLength} characters` });
    }
    if (item.quantity < 1 || item.quantity > itemLimits.maxQuantity) {
      v.push({ field: `${path}.quantity`, description: `must be between 1 and ${itemLimits.maxQuantity}` });
    }
    check?.(item, path);
  });
}
