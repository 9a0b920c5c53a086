import { invalidArgument } from "../platform/rpc-errors.js";
import { isUuid } from "../platform/validation.js";
import type { PageCursor } from "./order-store.js";

/**
 * ListOrders page tokens: the keyset position (created_at, id) of the last order on the page, bound to
 * the customer so a token cannot be replayed against another customer's list. Opaque to clients.
 */
export function encodePageToken(customerId: string, cursor: PageCursor): string {
  return Buffer.from(JSON.stringify({ v: 1, c: customerId, t: cursor.createdAt.getTime(), i: cursor.id })).toString("base64url");
}

// The latest instant PostgreSQL's timestamptz and JavaScript's Date both hold comfortably (year 9999).
const latestCursorTime = Date.UTC(9999, 11, 31, 23, 59, 59, 999);

/** Reads a page token; INVALID_ARGUMENT when it is malformed or belongs to another customer. */
export function decodePageToken(customerId: string, token: string): PageCursor {
  const notOurs = () => invalidArgument([{ field: "page_token", description: "is not a token returned by ListOrders" }]);
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(token, "base64url").toString("utf8"));
  } catch {
    throw notOurs();
  }
  // Anything that decodes as JSON may come back: null, a number, an array, an object of the wrong shape.
  if (typeof parsed !== "object" || parsed === null) throw notOurs();
  const p = parsed as { v?: unknown; c?: unknown; t?: unknown; i?: unknown };
  if (p.v !== 1 || !Number.isSafeInteger(p.t) || (p.t as number) < 0 || (p.t as number) > latestCursorTime || typeof p.i !== "string" || !isUuid(p.i)) {
    throw notOurs();
  }
  if (p.c !== customerId) {
    throw invalidArgument([{ field: "page_token", description: "belongs to a different customer_id" }]);
  }
  return { createdAt: new Date(p.t as number), id: p.i };
}
