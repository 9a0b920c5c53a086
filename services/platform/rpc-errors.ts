import { Code, ConnectError } from "@connectrpc/connect";
import { BadRequestSchema } from "../../gen/google/rpc/error_details_pb.js";

/** One invalid field: its path in the request (e.g. "items[2].quantity") and what is wrong with it. */
export interface FieldViolation {
  field: string;
  description: string;
}

/** INVALID_ARGUMENT naming every bad field, with google.rpc.BadRequest details for machines. */
export function invalidArgument(violations: readonly FieldViolation[]): ConnectError {
  const message = violations.map((v) => `${v.field}: ${v.description}`).join("; ");
  return new ConnectError(message, Code.InvalidArgument, undefined, [
    { desc: BadRequestSchema, value: { fieldViolations: violations.map((v) => ({ ...v })) } },
  ]);
}
