import type { ShippingAddress } from "../../../gen/shipping/v1/shipping_pb.js";
import { isCountryCode } from "./country-codes.js";
import type { FieldViolation } from "../rpc/rpc-errors.js";
import { limitText, requireText } from "./validation.js";

/** Limits of a postal address, the same wherever one enters ordermesh (stated on the proto fields). */
export const addressLimits = {
  maxTextLength: 200,
  maxPostalCodeLength: 20,
} as const;

/**
 * The fields of a postal address. orders.v1.Address has the same fields (names and types) as
 * shipping.v1.ShippingAddress, so either message fits; taken from gen/ so the proto stays their one source.
 */
export type PostalAddress = Omit<ShippingAddress, "$typeName" | "$unknown">;

/** Adds a violation to v for each bad field of address, named under path (e.g. "shipping_address.city"). */
export function validateAddress(v: FieldViolation[], path: string, address: PostalAddress | undefined): void {
  if (!address) {
    v.push({ field: path, description: "is required" });
    return;
  }
  requireText(v, `${path}.name`, address.name, addressLimits.maxTextLength);
  requireText(v, `${path}.line1`, address.line1, addressLimits.maxTextLength);
  limitText(v, `${path}.line2`, address.line2, addressLimits.maxTextLength);
  requireText(v, `${path}.city`, address.city, addressLimits.maxTextLength);
  requireText(v, `${path}.postal_code`, address.postalCode, addressLimits.maxPostalCodeLength);
  if (!isCountryCode(address.country)) {
    v.push({ field: `${path}.country`, description: "must be an assigned ISO 3166-1 alpha-2 code in upper case, e.g. DE" });
  }
}
