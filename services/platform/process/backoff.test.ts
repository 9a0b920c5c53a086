import { describe, expect, it } from "vitest";
import { exponentialBackoff } from "./backoff.js";

describe("exponentialBackoff", () => {
  it("doubles from initialMs per attempt up to maxMs, jittered within the upper half", () => {
    const delay = exponentialBackoff({ initialMs: 100, maxMs: 1000 });
    for (let i = 0; i < 200; i++) {
      const expected = [100, 200, 400, 800, 1000, 1000];
      expected.forEach((d, n) => {
        const ms = delay(n + 1);
        expect(ms).toBeGreaterThanOrEqual(d / 2);
        expect(ms).toBeLessThanOrEqual(d);
      });
    }
  });

  it("reads attempts below 1 (or not numbers) as the first, and huge ones as the cap", () => {
    const delay = exponentialBackoff({ initialMs: 100, maxMs: 1000 });
    for (const attempt of [0, -3, Number.NaN]) expect(delay(attempt)).toBeLessThanOrEqual(100);
    expect(delay(10_000)).toBeGreaterThanOrEqual(500);
    expect(delay(10_000)).toBeLessThanOrEqual(1000);
  });

  it("spreads the delays of one attempt", () => {
    const delay = exponentialBackoff({ initialMs: 1000, maxMs: 60_000 });
    expect(new Set(Array.from({ length: 50 }, () => delay(3))).size).toBeGreaterThan(10);
  });
});
