import { Code, ConnectError } from "@connectrpc/connect";
import { BadRequestSchema } from "../../gen/google/rpc/error_details_pb.js";

/** One invalid request field, as google.rpc.BadRequest names it (e.g. "items[0].quantity"). */
export interface FieldProblem {
  field: string;
  description: string;
}

/** An error ready to show: a one-line summary and the fields it concerns. */
export interface ShownError {
  summary: string;
  fields: FieldProblem[];
}

/** Turns any error from a call into what the page shows; field violations come from google.rpc.BadRequest details. */
export function describeRpcError(err: unknown, baseUrl: string): ShownError {
  const error = ConnectError.from(err);
  const code = codeName(error.code);
  if (error.code === Code.InvalidArgument) {
    const fields = error.findDetails(BadRequestSchema).flatMap((d) => d.fieldViolations.map((v) => ({ field: v.field, description: v.description })));
    return { summary: `${code}: ${fields.length > 0 ? "please fix the marked fields" : error.rawMessage}`, fields };
  }
  // fetch() failures (server down, CORS refused) surface as unavailable/unknown with the browser's message.
  if (error.code === Code.Unavailable || (error.code === Code.Unknown && /fetch|network/i.test(error.rawMessage))) {
    return { summary: `${code}: cannot reach the orders API at ${baseUrl} (${error.rawMessage})`, fields: [] };
  }
  return { summary: `${code}: ${error.rawMessage}`, fields: [] };
}

/** The Connect protocol's name of a code, e.g. "invalid_argument". */
function codeName(code: Code): string {
  return (Code[code] ?? "unknown").replace(/[A-Z]/g, (c, i: number) => (i === 0 ? "" : "_") + c.toLowerCase());
}
