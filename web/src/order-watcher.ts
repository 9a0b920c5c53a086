import { type Client, Code, ConnectError } from "@connectrpc/connect";
import type { Order, OrderService } from "../../gen/orders/v1/orders_pb.js";
// The page bundles the mesh's one backoff itself (it needs only cockatiel), not the process wing.
import { exponentialBackoff } from "../../services/platform/process/backoff.js";

/** What the page hears from the watched order's stream. */
export interface WatchEvents {
  /** The order as it is now (first message) or after a change. */
  order(order: Order): void;
  /** The stream ended OK: the order reached a final status and will not change any more. */
  ended(): void;
  /** The stream failed; it opens again after retryInMs, or never (undefined) when watching again cannot help. */
  failed(err: unknown, retryInMs: number | undefined): void;
}

// Answers a new watch would get again: no such order (or not the caller's), a bad request or token.
const permanent = new Set([Code.NotFound, Code.InvalidArgument, Code.PermissionDenied, Code.Unauthenticated, Code.Unimplemented]);

/** Between reconnects: 0.5 s, doubling up to 10 s, each drawn in [d/2, d] so many pages do not return at once. */
export const reconnectBackoff: (attempt: number) => number = exponentialBackoff({ initialMs: 500, maxMs: 10_000 });

/**
 * Watches one order at a time with WatchOrder (server streaming over connect-web): each message is the
 * order's new state. A stream that fails (server restarting, gateway idle timeout, network) is opened
 * again after a bounded backoff, which starts afresh once a message arrives.
 */
export class OrderWatcher {
  private current: AbortController | undefined;

  constructor(
    private readonly client: Pick<Client<typeof OrderService>, "watchOrder">,
    private readonly events: WatchEvents,
    private readonly backoff: (attempt: number) => number = reconnectBackoff,
  ) {}

  /** Starts watching the order with this id, replacing any order watched before. */
  watch(id: string): void {
    this.stop();
    const controller = new AbortController();
    this.current = controller;
    void this.run(id, controller.signal);
  }

  /** Stops watching and cancels the stream. */
  stop(): void {
    this.current?.abort();
    this.current = undefined;
  }

  private async run(id: string, signal: AbortSignal): Promise<void> {
    // Failed attempts since the last message: the backoff starts afresh once the stream delivers.
    let failures = 0;
    while (!signal.aborted) {
      try {
        // timeoutMs 0: no deadline (the transport's default would end every watch after 10 s).
        for await (const { order } of this.client.watchOrder({ id }, { signal, timeoutMs: 0 })) {
          failures = 0;
          if (order && !signal.aborted) this.events.order(order);
        }
        if (!signal.aborted) this.events.ended();
        return;
      } catch (err) {
        if (signal.aborted) return;
        if (permanent.has(ConnectError.from(err).code)) return this.events.failed(err, undefined);
        const retryInMs = this.backoff(++failures);
        this.events.failed(err, retryInMs);
        await sleep(retryInMs, signal);
      }
    }
  }
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal.addEventListener(
      "abort",
      () => {
        clearTimeout(timer);
        resolve();
      },
      { once: true },
    );
  });
}
