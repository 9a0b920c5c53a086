import { describe, expect, it } from "vitest";
import { exponentialBackoff } from "./backoff.js";

describe("exponentialBackoff", () => {
  it("doubles from initialMs, stays within [delay/2, delay] and stops growing at maxMs", () => {
    const next = exponentialBackoff({ initialMs: 100, maxMs: 1000 });
    const bounds: Array<[number, number, number]> = [
      [1, 50, 100],
      [2, 100, 200],
      [3, 200, 400],
      [4, 400, 800],
      [5, 500, 1000],
      [50, 500, 1000],
      [1e9, 500, 1000],
    ];
    for (const [attempt, low, high] of bounds) {
      for (let i = 0; i < 200; i++) {
        const delay = next(attempt);
        expect(delay, `attempt ${attempt}`).toBeGreaterThanOrEqual(low);
        expect(delay, `attempt ${attempt}`).toBeLessThanOrEqual(high);
      }
    }
  });

  it("jitters: one attempt's delays are not all the same", () => {
    const next = exponentialBackoff({ initialMs: 1000, maxMs: 60_000 });
    expect(new Set(Array.from({ length: 50 }, () => next(3))).size).toBeGreaterThan(1);
  });

  it("treats attempts below 1 as the first", () => {
    const next = exponentialBackoff({ initialMs: 100, maxMs: 1000 });
    for (const attempt of [0, -5, Number.NaN]) {
      const delay = next(attempt);
      expect(delay).toBeGreaterThanOrEqual(50);
      expect(delay).toBeLessThanOrEqual(100);
    }
  });

  it("refuses a tuning that makes no sense", () => {
    expect(() => exponentialBackoff({ initialMs: 0, maxMs: 10 })).toThrow(RangeError);
    expect(() => exponentialBackoff({ initialMs: 100, maxMs: 10 })).toThrow(RangeError);
  });
});
