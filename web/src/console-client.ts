import type { ErrorAnswer } from "../../services/mesh/console-contract.js";

/** A console API answer that was not OK, with the server's message (and gRPC code when the AdminService answered). */
export class ConsoleApiError extends Error {
  override name = "ConsoleApiError";
  constructor(
    /** The HTTP status. */
    readonly status: number,
    message: string,
    /** The AdminService's gRPC code name, when it answered. */
    readonly code: string | undefined,
  ) {
    super(message);
  }
}

// A refresh must not hang on a sick service: the launcher bounds its own calls below this.
const timeoutMs = 15_000;

async function answer<T>(res: Response): Promise<T> {
  const body = (await res.json().catch(() => ({ error: `HTTP ${res.status}` }))) as T | ErrorAnswer;
  if (!res.ok) {
    const error = body as ErrorAnswer;
    throw new ConsoleApiError(res.status, error.code ? `${error.code}: ${error.error}` : error.error, error.code);
  }
  return body as T;
}

/** GET a console API path (relative to /console/api/). */
export async function getJson<T>(path: string): Promise<T> {
  return answer<T>(await fetch(`/console/api/${path}`, { cache: "no-store", signal: AbortSignal.timeout(timeoutMs) }));
}

/** POST JSON to a console API path; the browser adds the Origin the server checks. */
export async function postJson<T>(path: string, body: unknown): Promise<T> {
  const res = await fetch(`/console/api/${path}`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
    signal: AbortSignal.timeout(timeoutMs),
  });
  return answer<T>(res);
}

/** A failure as one line for the page. */
export function describeError(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
