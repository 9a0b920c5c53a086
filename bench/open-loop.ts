/**
 * Open-loop scheduling: request i is *intended* at start + i / rate, whatever happened to earlier
 * ones, and its latency is measured from that intended time. A stalled server therefore shows up as
 * growing latency of every request that should have been sent during the stall (no coordinated omission).
 */

/** Milliseconds after the start at which request `index` (0-based) is due. */
export function intendedSendMs(index: number, ratePerSec: number): number {
  return (index * 1000) / ratePerSec;
}

/** Requests due by `elapsedMs` after the start (at most `total`): request 0 is due at once. */
export function dueCount(elapsedMs: number, ratePerSec: number, total: number): number {
  if (elapsedMs < 0) return 0;
  return Math.min(total, Math.floor((elapsedMs * ratePerSec) / 1000) + 1);
}

/** Requests in an open-loop run of `durationMs` at `ratePerSec`. */
export function totalRequests(durationMs: number, ratePerSec: number): number {
  return Math.max(1, Math.round((durationMs * ratePerSec) / 1000));
}

/** Milliseconds from `elapsedMs` until request `nextIndex` is due (0 when it is already due). */
export function msUntilDue(nextIndex: number, elapsedMs: number, ratePerSec: number): number {
  return Math.max(0, intendedSendMs(nextIndex, ratePerSec) - elapsedMs);
}
