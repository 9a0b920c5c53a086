import { describe, expect, it } from "vitest";
import { VerifiedTokenCache } from "./verified-token-cache.js";

const alice = { customerId: "alice", email: "", admin: false };

describe("VerifiedTokenCache", () => {
  it("forgets a token when it expires, and after maxAge even if it lives longer", () => {
    const cache = new VerifiedTokenCache(10, 60_000);
    cache.set("short", alice, 1_000 + 5_000, 1_000);
    cache.set("long", alice, 1_000 + 3_600_000, 1_000);
    expect(cache.get("short", 5_999)).toBe(alice);
    expect(cache.get("short", 6_000)).toBeUndefined();
    expect(cache.get("long", 60_999)).toBe(alice);
    expect(cache.get("long", 61_000)).toBeUndefined();
  });

  it("holds at most maxEntries, dropping the oldest", () => {
    const cache = new VerifiedTokenCache(3);
    for (const t of ["a", "b", "c", "d"]) cache.set(t, alice, Date.now() + 10_000);
    expect(["a", "b", "c", "d"].map((t) => cache.get(t) !== undefined)).toEqual([false, true, true, true]);
  });
});
