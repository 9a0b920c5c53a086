import { BulkheadRejectedError, bulkhead, type BulkheadPolicy } from "cockatiel";
import { Code, ConnectError } from "@connectrpc/connect";

/** Admits at most a fixed number of calls at once and refuses the rest immediately. */
export interface LoadShedder {
  /** Runs fn if a slot is free; RESOURCE_EXHAUSTED at once otherwise. */
  run<T>(fn: () => Promise<T> | T): Promise<T>;
  /** Calls running now. */
  readonly inFlight: number;
}

/**
 * A bulkhead with no queue: under a burst the calls already admitted keep their latency, and the rest
 * learn at once that they should back off, instead of waiting in a queue that only grows (a queued call
 * that outlives its deadline is work done for nobody).
 */
export function createLoadShedder(maxInFlight: number): LoadShedder {
  const policy: BulkheadPolicy = bulkhead(maxInFlight, 0);
  return {
    async run(fn) {
      try {
        return await policy.execute(() => fn());
      } catch (err) {
        if (err instanceof BulkheadRejectedError) {
          throw new ConnectError(`the server is busy (${maxInFlight} calls in flight); retry with backoff`, Code.ResourceExhausted);
        }
        throw err;
      }
    },
    get inFlight() {
      return maxInFlight - policy.executionSlots;
    },
  };
}
