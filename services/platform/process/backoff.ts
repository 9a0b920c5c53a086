/** Tuning of an exponential backoff. */
export interface BackoffOptions {
  /** Delay before the second try (attempt 1). */
  initialMs: number;
  /** Upper bound of any delay. */
  maxMs: number;
}

/**
 * The mesh's one retry delay: initialMs * 2^(attempt-1), capped at maxMs, then jittered into
 * [delay/2, delay] so the failures of one outage do not all come back at the same moment.
 * `attempt` counts failures so far, from 1; attempts below 1 count as 1.
 */
export function exponentialBackoff({ initialMs, maxMs }: BackoffOptions): (attempt: number) => number {
  if (!(initialMs > 0) || !(maxMs >= initialMs)) throw new RangeError(`backoff needs 0 < initialMs <= maxMs, got ${initialMs} and ${maxMs}`);
  return (attempt) => {
    // 2^60 overflows nothing and is far past any cap, so a huge attempt count cannot make NaN or Infinity.
    const exponent = Math.min((attempt >= 1 ? Math.floor(attempt) : 1) - 1, 60);
    const delay = Math.min(initialMs * 2 ** exponent, maxMs);
    return Math.round(delay / 2 + (Math.random() * delay) / 2);
  };
}
