import { invalidArgument } from "./rpc-errors.js";

const uuidPattern = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Whether s is a canonical UUID (any version), the id format of every entity in ordermesh. */
export function isUuid(s: string): boolean {
  return uuidPattern.test(s);
}

/** Throws INVALID_ARGUMENT naming the field unless value is a UUID. */
export function requireUuid(field: string, value: string): void {
  if (!isUuid(value)) throw invalidArgument([{ field, description: "must be a UUID" }]);
}
