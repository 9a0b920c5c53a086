/**
 * The SQLSTATE of a PostgreSQL error, e.g. "57014" (statement timeout): postgres.js's error carries
 * it as `code`, and drizzle wraps that error, so the cause chain is looked through. Undefined for
 * anything else (a socket error's code such as ECONNRESET is no SQLSTATE).
 */
export function sqlStateOf(err: unknown): string | undefined {
  for (let e = err, depth = 0; e instanceof Error && depth < 5; e = e.cause, depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === "string" && /^[0-9A-Z]{5}$/.test(code)) return code;
  }
  return undefined;
}
