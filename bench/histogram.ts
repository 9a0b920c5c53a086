import * as hdr from "hdr-histogram-js";

/** An HDR histogram of latencies in microseconds. */
export type Histogram = hdr.Histogram;

/** Latency percentiles of one run, in milliseconds. */
export interface LatencySummary {
  count: number;
  p50Ms: number;
  p99Ms: number;
  p999Ms: number;
  maxMs: number;
  meanMs: number;
}

/** A histogram for latencies from 1 µs to 10 minutes at 3 significant digits. */
export function newHistogram(): Histogram {
  // Plain JS (no WebAssembly): nothing to initialise asynchronously, and a few 10k values/s is cheap either way.
  return hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: 600_000_000, numberOfSignificantValueDigits: 3 });
}

/** Records one latency given in milliseconds (fractions kept to the microsecond). */
export function recordMs(h: Histogram, ms: number): void {
  h.recordValue(Math.max(1, Math.round(ms * 1000)));
}

/** p50/p99/p99.9/max/mean of a histogram, in milliseconds rounded to the microsecond. */
export function summarize(h: Histogram): LatencySummary {
  const ms = (us: number) => Math.round(us) / 1000;
  if (h.totalCount === 0) return { count: 0, p50Ms: 0, p99Ms: 0, p999Ms: 0, maxMs: 0, meanMs: 0 };
  return {
    count: h.totalCount,
    p50Ms: ms(h.getValueAtPercentile(50)),
    p99Ms: ms(h.getValueAtPercentile(99)),
    p999Ms: ms(h.getValueAtPercentile(99.9)),
    maxMs: ms(h.maxValue),
    meanMs: ms(h.mean),
  };
}

/** A histogram as compressed base64, to cross the process boundary without losing resolution. */
export function encodeHistogram(h: Histogram): string {
  return hdr.encodeIntoCompressedBase64(h);
}

/** The inverse of encodeHistogram. */
export function decodeHistogram(encoded: string): Histogram {
  return hdr.decodeFromCompressedBase64(encoded);
}

/** value / ceiling rounded to 3 digits, or undefined when there is no usable ceiling. */
export function ratio(value: number, ceiling: number | undefined): number | undefined {
  if (ceiling === undefined || !(ceiling > 0) || !Number.isFinite(value)) return undefined;
  return Math.round((value / ceiling) * 1000) / 1000;
}
