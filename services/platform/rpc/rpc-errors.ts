import { create } from "@bufbuild/protobuf";
import { anyPack, AnySchema, type Any } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError } from "@connectrpc/connect";
import { BadRequestSchema } from "../../../gen/google/rpc/error_details_pb.js";
import { type Status, StatusSchema } from "../../../gen/google/rpc/status_pb.js";

/** One invalid field: its path in the request (e.g. "items[2].quantity") and what is wrong with it. */
export interface FieldViolation {
  field: string;
  description: string;
}

/**
 * Violations an INVALID_ARGUMENT carries at most. A request with 100,000 bad lines once produced a
 * 16.5 MB error (more than stock grpcio clients accept in a trailer); the first few tell the caller
 * what to fix, and the count of the rest tells them how much is left.
 */
export const maxReportedViolations = 20;

/**
 * INVALID_ARGUMENT naming the bad fields, with google.rpc.BadRequest details for machines: the first
 * maxReportedViolations of them, then one last violation (field "request") saying how many more there are.
 */
export function invalidArgument(violations: readonly FieldViolation[]): ConnectError {
  const shown = violations.slice(0, maxReportedViolations).map((v) => ({ ...v }));
  const more = violations.length - shown.length;
  const parts = shown.map((v) => `${v.field}: ${v.description}`);
  if (more > 0) {
    const rest = { field: "request", description: `${more} more invalid field${more === 1 ? "" : "s"} not listed` };
    parts.push(`and ${more} more`);
    shown.push(rest);
  }
  return new ConnectError(parts.join("; "), Code.InvalidArgument, undefined, [
    { desc: BadRequestSchema, value: { fieldViolations: shown } },
  ]);
}

/**
 * An error as the google.rpc.Status a batch RPC answers for one failed item: the code, message and
 * details (BadRequest, ...) the same request on its own would have failed with.
 */
export function statusOf(err: unknown): Status {
  const error = ConnectError.from(err);
  const details: Any[] = error.details.map((d) =>
    "desc" in d ? anyPack(d.desc, create(d.desc, d.value)) : create(AnySchema, { typeUrl: `type.googleapis.com/${d.type}`, value: d.value }),
  );
  return create(StatusSchema, { code: error.code, message: error.rawMessage, details });
}
