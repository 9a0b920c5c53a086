import type { DeadLetterRef } from "../events/index.js";

/*
 * The admin RPCs' page tokens: a position, base64url JSON. Unlike ListOrders' tokens they are not
 * signed: they are bound to no customer, only admins hold them, and every position is one an admin
 * may read anyway, so a made-up token can only start a page elsewhere. A token that does not parse
 * is refused (INVALID_ARGUMENT naming page_token).
 */

/** The token of a dead-letter page that starts at this dead letter. */
export function deadLetterPageToken(next: DeadLetterRef): string {
  return encode({ s: next.stream, q: next.sequence });
}

/** The position a dead-letter page token names; undefined when it is not one. */
export function parseDeadLetterPageToken(token: string): DeadLetterRef | undefined {
  const value = decode(token) as { s?: unknown; q?: unknown } | undefined;
  if (typeof value?.s !== "string" || value.s.length === 0 || value.s.length > 256) return undefined;
  if (typeof value.q !== "number" || !Number.isSafeInteger(value.q) || value.q < 1) return undefined;
  return { stream: value.s, sequence: value.q };
}

/** The token of a failed-outbox page that starts after this outbox seq. */
export function outboxPageToken(after: bigint): string {
  return encode({ a: after.toString() });
}

/** The outbox seq a failed-outbox page token names; undefined when it is not one. */
export function parseOutboxPageToken(token: string): bigint | undefined {
  const value = decode(token) as { a?: unknown } | undefined;
  if (typeof value?.a !== "string" || !/^\d{1,19}$/.test(value.a)) return undefined;
  return BigInt(value.a);
}

function encode(value: object): string {
  return Buffer.from(JSON.stringify(value)).toString("base64url");
}

function decode(token: string): unknown {
  if (token.length > 1024 || !/^[A-Za-z0-9_-]+$/.test(token)) return undefined;
  try {
    return JSON.parse(Buffer.from(token, "base64url").toString("utf8")) as unknown;
  } catch {
    return undefined;
  }
}
