import { halfJitterGenerator } from "cockatiel";

/** Tuning of exponentialBackoff. */
export interface ExponentialBackoffOptions {
  /** Delay before the first retry (before jitter). */
  initialMs: number;
  /** Upper bound of any delay. */
  maxMs: number;
}

/**
 * The mesh's one backoff for work retried across calls, processes and redeliveries (cockatiel's retry
 * policies cover the attempts inside one call): attempt n (1-based: the first retry is 1) waits a
 * random time in [d/2, d] with d = min(initialMs * 2^(n-1), maxMs). It is a function of the attempt
 * alone, so it can be driven by state that outlives a process, e.g. JetStream's delivery count. The
 * jitter spreads the retries of one outage so they do not come back together, and never waits less
 * than half the delay, so a failing dependency is not hammered by an unlucky draw.
 */
export function exponentialBackoff({ initialMs, maxMs }: ExponentialBackoffOptions): (attempt: number) => number {
  const options = { initialDelay: initialMs, maxDelay: maxMs, exponent: 2, generator: halfJitterGenerator };
  return (attempt) => {
    const index = Number.isFinite(attempt) ? Math.max(0, Math.floor(attempt) - 1) : 0;
    return halfJitterGenerator(index, options)[0];
  };
}
