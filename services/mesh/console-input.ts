import type { IncomingMessage } from "node:http";

/** A request the console API refuses, with the HTTP status to answer. */
export class ConsoleInputError extends Error {
  override name = "ConsoleInputError";
  constructor(
    /** The HTTP status to answer: 400, 403, 404, 405, 413, 415, 503. */
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

/** Most refs, ids or rows one console call may name: the AdminService's own limit per call. */
export const maxSelection = 1000;
/** Largest JSON body a console POST may send (1000 refs fit in well under this). */
export const maxBodyBytes = 128 * 1024;

// JetStream stream and durable names: no whitespace, ".", "*", ">" or path separators.
const namePattern = /^[A-Za-z0-9_-]{1,64}$/;
const eventTypePattern = /^[A-Za-z0-9_.]{1,128}$/;
const sequencePattern = /^[1-9][0-9]{0,19}$/;
const tokenPattern = /^[\x21-\x7e]{0,1024}$/;
const idPattern = /^[0-9A-Za-z-]{1,64}$/;
const maxUint64 = 2n ** 64n - 1n;

/** A stream or consumer name, or "" when optional and absent. */
export function readName(value: unknown, field: string, optional = false): string {
  if ((value === undefined || value === null || value === "") && optional) return "";
  if (typeof value !== "string" || !namePattern.test(value)) throw new ConsoleInputError(400, `${field} must be 1 to 64 letters, digits, "_" or "-"`);
  return value;
}

/** A CloudEvents type like "orders.v1.OrderCreated", or "" when absent. */
export function readEventType(value: unknown): string {
  if (value === undefined || value === null || value === "") return "";
  if (typeof value !== "string" || !eventTypePattern.test(value)) throw new ConsoleInputError(400, 'event_type must be 1 to 128 letters, digits, "_" or "."');
  return value;
}

/** A stream sequence: a positive integer that fits uint64, given as a JSON number or a decimal string. */
export function readSequence(value: unknown, field = "sequence"): bigint {
  const text = typeof value === "number" && Number.isSafeInteger(value) ? String(value) : value;
  if (typeof text !== "string" || !sequencePattern.test(text) || BigInt(text) > maxUint64) {
    throw new ConsoleInputError(400, `${field} must be a positive integer (a stream sequence)`);
  }
  return BigInt(text);
}

/** An integer in [min, max], or fallback when absent. */
export function readInt(value: string | null, field: string, min: number, max: number, fallback: number): number {
  if (value === null || value === "") return fallback;
  const n = Number(value);
  if (!/^\d{1,7}$/.test(value) || n < min || n > max) throw new ConsoleInputError(400, `${field} must be an integer from ${min} to ${max}`);
  return n;
}

/** An opaque page token handed back from a previous page. */
export function readPageToken(value: string | null): string {
  if (value === null) return "";
  if (!tokenPattern.test(value)) throw new ConsoleInputError(400, "page_token must be at most 1024 printable characters");
  return value;
}

/** An id (order id, outbox event id): 1 to 64 letters, digits and "-". */
export function readId(value: unknown, field: string): string {
  if (typeof value !== "string" || !idPattern.test(value)) throw new ConsoleInputError(400, `${field} must be 1 to 64 letters, digits or "-"`);
  return value;
}

/** A W3C trace id: 32 lowercase hex digits. */
export function readTraceId(value: string): string {
  if (!/^[0-9a-f]{32}$/.test(value)) throw new ConsoleInputError(400, "a trace id is 32 lowercase hex digits");
  return value;
}

/** A list of 1 to maxSelection items. */
export function readList(value: unknown, field: string): unknown[] {
  if (!Array.isArray(value) || value.length === 0 || value.length > maxSelection) throw new ConsoleInputError(400, `${field} must be a list of 1 to ${maxSelection}`);
  return value;
}

/** The JSON object body of a POST: application/json, at most maxBodyBytes (cut off while it arrives). */
export async function readJsonBody(req: IncomingMessage): Promise<Record<string, unknown>> {
  const type = (req.headers["content-type"] ?? "").split(";")[0]!.trim().toLowerCase();
  // JSON only: a cross-site form can send text/plain or form encodings without a preflight, never this.
  if (type !== "application/json") throw new ConsoleInputError(415, "send the body as application/json");
  const declared = Number(req.headers["content-length"] ?? 0);
  if (declared > maxBodyBytes) throw new ConsoleInputError(413, `the body may be at most ${maxBodyBytes} bytes`);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > maxBodyBytes) throw new ConsoleInputError(413, `the body may be at most ${maxBodyBytes} bytes`);
    chunks.push(chunk);
  }
  let body: unknown;
  try {
    body = JSON.parse(Buffer.concat(chunks).toString("utf8"));
  } catch {
    throw new ConsoleInputError(400, "the body is not valid JSON");
  }
  if (typeof body !== "object" || body === null || Array.isArray(body)) throw new ConsoleInputError(400, "the body must be a JSON object");
  return body as Record<string, unknown>;
}
