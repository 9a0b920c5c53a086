import { invalidArgument, type FieldViolation } from "../rpc/rpc-errors.js";

/** The longest customer id or client-chosen key (request_id) any service accepts. */
export const maxIdLength = 128;

const uuidPattern = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Whether s is a canonical UUID (any version), the id format of every entity in ordermesh. */
export function isUuid(s: string): boolean {
  return uuidPattern.test(s);
}

/** Throws INVALID_ARGUMENT naming the field unless value is a UUID. */
export function requireUuid(field: string, value: string): void {
  if (!isUuid(value)) throw invalidArgument([{ field, description: "must be a UUID" }]);
}

/** Adds a violation to v unless value is non-blank and at most max characters long. */
export function requireText(v: FieldViolation[], field: string, value: string, max: number): void {
  if (value.trim() === "") v.push({ field, description: "is required" });
  else limitText(v, field, value, max);
}

/** Adds a violation to v if value, which may be empty, is longer than max characters. */
export function limitText(v: FieldViolation[], field: string, value: string, max: number): void {
  if (value.length > max) v.push({ field, description: `must be at most ${max} characters` });
}
