import { createHmac, timingSafeEqual } from "node:crypto";
import { invalidArgument } from "../platform/rpc/index.js";
import { isUuid } from "../platform/validation/index.js";
import type { PageCursor } from "./order-store.js";

/**
 * ListOrders page tokens: the keyset position (created_at, id) of the last order on the page, bound to
 * the customer so a token cannot be replayed against another customer's list, and signed with
 * HMAC-SHA256 under the deployment's PAGE_TOKEN_KEY so a client cannot forge a position. Opaque to clients.
 */
export function encodePageToken(key: Uint8Array, customerId: string, cursor: PageCursor): string {
  return sealPageToken(key, { v: 1, c: customerId, t: cursor.createdAt.getTime(), i: cursor.id });
}

/** A token carrying any JSON value, signed: what encodePageToken builds on (tests craft odd payloads with it). */
export function sealPageToken(key: Uint8Array, value: unknown): string {
  const payload = Buffer.from(JSON.stringify(value)).toString("base64url");
  return `${payload}.${mac(key, payload).toString("base64url")}`;
}

function mac(key: Uint8Array, payload: string): Buffer {
  return createHmac("sha256", key).update(payload).digest();
}

// The latest instant PostgreSQL's timestamptz and JavaScript's Date both hold comfortably (year 9999).
const latestCursorTime = Date.UTC(9999, 11, 31, 23, 59, 59, 999);
// Tokens this service makes are ~150 characters; anything much longer is not one, and is not hashed.
const maxTokenLength = 1024;

/** Reads a page token; INVALID_ARGUMENT when it is malformed, tampered with or belongs to another customer. */
export function decodePageToken(key: Uint8Array, customerId: string, token: string): PageCursor {
  const notOurs = () => invalidArgument([{ field: "page_token", description: "is not a token returned by ListOrders" }]);
  const [payload, signature, ...rest] = token.length > maxTokenLength ? [] : token.split(".");
  if (payload === undefined || signature === undefined || rest.length > 0) throw notOurs();
  const given = Buffer.from(signature, "base64url");
  const expected = mac(key, payload);
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
    throw invalidArgument([{ field: "page_token", description: "is not a token returned by ListOrders (its signature does not match)" }]);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(payload, "base64url").toString("utf8"));
  } catch {
    throw notOurs();
  }
  // A signed token is one this deployment made, but the checks stay: an older format, or a key leaked.
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
