import { describe, expect, it } from "vitest";
import { waitFor } from "../../../tests/support/wait-for.js";
import { KeyedScheduler } from "./keyed-scheduler.js";

interface Item {
  key: string | undefined;
  n: number;
}

/** A scheduler whose batches stay open until the test releases them, recording what ran together. */
function recordingScheduler(concurrency: number, maxBatch: number) {
  const batches: Item[][] = [];
  const releases: Array<() => void> = [];
  let running = 0;
  let maxRunning = 0;
  const scheduler = new KeyedScheduler<Item>({
    concurrency,
    maxBatch,
    keyOf: (item) => item.key,
    run: async (batch) => {
      batches.push(batch);
      running++;
      maxRunning = Math.max(maxRunning, running);
      await new Promise<void>((resolve) => releases.push(resolve));
      running--;
    },
  });
  /** Lets every batch started so far finish. */
  const releaseAll = () => releases.splice(0).forEach((release) => release());
  return { scheduler, batches, releaseAll, maxRunning: () => maxRunning };
}

describe("KeyedScheduler", () => {
  it("batches what is queued, one item per key per batch, a key's items in push order", async () => {
    const { scheduler, batches, releaseAll, maxRunning } = recordingScheduler(2, 10);
    const keys = ["a", "b", "c"];
    const items = [1, 2, 3, 4].flatMap((n) => keys.map((key) => ({ key, n })));
    for (const item of items) scheduler.push(item);
    // Drive it: release whatever runs until everything has run.
    await waitFor(() => {
      releaseAll();
      return batches.flat().length === items.length && scheduler.running === 0;
    }, { what: "every item run", intervalMs: 5 });
    await scheduler.idle();
    for (const batch of batches) {
      expect(batch.length).toBeLessThanOrEqual(10);
      expect(new Set(batch.map((i) => i.key)).size).toBe(batch.length);
    }
    for (const key of keys) expect(batches.flat().filter((i) => i.key === key).map((i) => i.n)).toEqual([1, 2, 3, 4]);
    // The first batch took one of each key; the second slot found nothing runnable until it finished.
    expect(batches[0]!.map((i) => `${i.key}${i.n}`)).toEqual(["a1", "b1", "c1"]);
    expect(maxRunning()).toBe(1);
  });

  it("never runs two batches holding the same key, even with slots free", async () => {
    const { scheduler, batches, releaseAll } = recordingScheduler(4, 1);
    for (let n = 1; n <= 3; n++) scheduler.push({ key: "same", n });
    scheduler.push({ key: "other", n: 1 });
    await waitFor(() => batches.length === 2, { what: "first two batches" });
    // "same:1" and "other:1" run; "same:2" waits for "same:1" although two slots are free.
    expect(batches.map((b) => `${b[0]!.key}:${b[0]!.n}`)).toEqual(["same:1", "other:1"]);
    expect(scheduler.queued).toBe(2);
    releaseAll();
    await waitFor(() => batches.length === 3, { what: "same:2 after same:1" });
    expect(batches[2]![0]).toEqual({ key: "same", n: 2 });
    await waitFor(() => {
      releaseAll();
      return batches.length === 4 && scheduler.running === 0;
    }, { what: "the rest", intervalMs: 5 });
  });

  it("caps batches at maxBatch and batches in flight at concurrency; keyless items go anywhere", async () => {
    const { scheduler, batches, releaseAll, maxRunning } = recordingScheduler(2, 3);
    for (let n = 1; n <= 10; n++) scheduler.push({ key: undefined, n });
    await waitFor(() => batches.length === 2, { what: "two batches" });
    expect(batches.map((b) => b.map((i) => i.n))).toEqual([[1, 2, 3], [4, 5, 6]]);
    expect(scheduler.queued).toBe(4);
    await waitFor(() => {
      releaseAll();
      return batches.flat().length === 10 && scheduler.running === 0;
    }, { what: "all ten", intervalMs: 5 });
    expect(maxRunning()).toBe(2);
    expect(batches.every((b) => b.length <= 3)).toBe(true);
  });

  it("drainQueue hands back what has not started and wakes a waiter for room", async () => {
    const { scheduler, releaseAll } = recordingScheduler(1, 1);
    for (let n = 1; n <= 3; n++) scheduler.push({ key: "k", n });
    await waitFor(() => scheduler.running === 1, { what: "first running" });
    let roomMade = false;
    const waiting = scheduler.waitForRoom(2).then(() => (roomMade = true));
    expect(roomMade).toBe(false);
    expect(scheduler.drainQueue().map((i) => i.n)).toEqual([2, 3]);
    await waiting;
    expect(roomMade).toBe(true);
    releaseAll();
    await scheduler.idle();
    expect(scheduler.running).toBe(0);
  });
});
