/** Polls until check returns a truthy value (or stops throwing) and returns it; fails after the deadline. */
export async function waitFor<T>(
  check: () => T | Promise<T>,
  options: { timeoutMs?: number; intervalMs?: number; what?: string } = {},
): Promise<NonNullable<T>> {
  const deadline = Date.now() + (options.timeoutMs ?? 15_000);
  let last: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value) return value as NonNullable<T>;
      last = value;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out waiting for ${options.what ?? "condition"}; last: ${describeLast(last)}`);
    }
    await new Promise((r) => setTimeout(r, options.intervalMs ?? 50));
  }
}

// Checks often return protobuf messages, whose int64 fields are bigints that JSON.stringify rejects.
function describeLast(last: unknown): string {
  if (last instanceof Error) return last.message;
  return JSON.stringify(last, (_key, value: unknown) => (typeof value === "bigint" ? String(value) : value)) ?? String(last);
}
