import { create, type MessageInitShape } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { describe, expect, it } from "vitest";
import { type Order, OrderSchema, OrderStatus, ShipmentSummarySchema, type WatchOrderResponse, WatchOrderResponseSchema } from "../gen/orders/v1/orders_pb.js";
import { isCancellable, timelineSteps } from "../web/src/order-timeline.js";
import { OrderWatcher, reconnectBackoff, type WatchEvents } from "../web/src/order-watcher.js";
import { waitFor } from "./support/wait-for.js";

// The page's watch and timeline are plain code; the browser test (tests/browser.test.ts) sees them live.
const order = (status: OrderStatus, changes: MessageInitShape<typeof OrderSchema> = {}) => create(OrderSchema, { id: "o-1", status, ...changes });
const states = (o: Order) => timelineSteps(o).map((s) => `${s.key}:${s.state}`);

describe("the web page's order timeline", () => {
  it("follows an order from placed to delivered, with carrier and tracking once shipped", () => {
    expect(states(order(OrderStatus.PENDING))).toEqual(["placed:current", "shipment_requested:upcoming", "shipped:upcoming", "delivered:upcoming"]);
    expect(states(order(OrderStatus.SHIPMENT_REQUESTED))).toEqual(["placed:done", "shipment_requested:current", "shipped:upcoming", "delivered:upcoming"]);
    const shipment = create(ShipmentSummarySchema, { carrier: "DHL", trackingNumber: "JJD0001" });
    const shipped = timelineSteps(order(OrderStatus.SHIPPED, { shipment }));
    expect(shipped.map((s) => s.state)).toEqual(["done", "done", "current", "upcoming"]);
    expect(shipped[2]!.detail).toBe("DHL, tracking JJD0001");
    expect(states(order(OrderStatus.DELIVERED, { shipment }))).toEqual(["placed:done", "shipment_requested:done", "shipped:done", "delivered:current"]);
  });

  it("shows a cancellation at once before the hand-off, through cancelling after it", () => {
    expect(states(order(OrderStatus.CANCELLED, { cancelReason: "changed my mind" }))).toEqual(["placed:done", "cancelled:current"]);
    expect(timelineSteps(order(OrderStatus.CANCELLED, { cancelReason: "changed my mind" }))[1]!.detail).toBe("changed my mind");
    expect(states(order(OrderStatus.CANCELLING, { shipmentId: "s-1" }))).toEqual(["placed:done", "shipment_requested:done", "cancelling:current", "cancelled:upcoming"]);
    expect(states(order(OrderStatus.CANCELLED, { shipmentId: "s-1" }))).toEqual(["placed:done", "shipment_requested:done", "cancelling:done", "cancelled:current"]);
    expect(states(order(OrderStatus.DISPATCH_FAILED))).toEqual(["placed:done", "dispatch_failed:current"]);
  });

  it("offers Cancel until the carrier picked the parcel up", () => {
    const cancellable = Object.values(OrderStatus).filter((s): s is OrderStatus => typeof s === "number" && isCancellable(order(s)));
    expect(cancellable.sort()).toEqual([OrderStatus.PENDING, OrderStatus.SHIPMENT_REQUESTED, OrderStatus.DISPATCH_FAILED].sort());
  });
});

/** A watchOrder that plays one script per call: messages, then an error or the end. */
function scriptedClient(scripts: Array<{ orders: Order[]; error?: ConnectError }>) {
  const calls: Array<{ timeoutMs: number | undefined; signal?: AbortSignal }> = [];
  return {
    calls,
    client: {
      watchOrder(_req: unknown, options: { timeoutMs?: number; signal?: AbortSignal } = {}): AsyncIterable<WatchOrderResponse> {
        calls.push({ timeoutMs: options.timeoutMs, signal: options.signal });
        const script = scripts.shift() ?? { orders: [], error: new ConnectError("no more scripts", Code.Internal) };
        return (async function* () {
          for (const o of script.orders) yield create(WatchOrderResponseSchema, { order: o });
          if (script.error) throw script.error;
        })();
      },
    },
  };
}

function recorder() {
  const seen: string[] = [];
  const delays: Array<number | undefined> = [];
  const events: WatchEvents = {
    order: (o) => seen.push(`order ${OrderStatus[o.status]}`),
    ended: () => seen.push("ended"),
    failed: (err, retryInMs) => {
      seen.push(`failed ${Code[ConnectError.from(err).code]}`);
      delays.push(retryInMs);
    },
  };
  return { seen, delays, events };
}

describe("the web page's order watcher", () => {
  it("opens the stream without a deadline, reconnects after a failure, and stops once the order is final", async () => {
    const { client, calls } = scriptedClient([
      { orders: [order(OrderStatus.PENDING)], error: new ConnectError("server restarting", Code.Unavailable) },
      { orders: [order(OrderStatus.PENDING), order(OrderStatus.CANCELLED)] },
    ]);
    const { seen, events } = recorder();
    new OrderWatcher(client as never, events, () => 1).watch("o-1");
    await waitFor(() => seen.includes("ended"), { what: "the watch to end" });
    expect(seen).toEqual(["order PENDING", "failed Unavailable", "order PENDING", "order CANCELLED", "ended"]);
    expect(calls.map((c) => c.timeoutMs)).toEqual([0, 0]);
  });

  it("does not retry what a new watch would get again (NOT_FOUND, UNAUTHENTICATED)", async () => {
    for (const code of [Code.NotFound, Code.Unauthenticated]) {
      const { client, calls } = scriptedClient([{ orders: [], error: new ConnectError("no", code) }]);
      const { seen, delays, events } = recorder();
      new OrderWatcher(client as never, events, () => 1).watch("o-1");
      await waitFor(() => seen.length === 1, { what: "the failure" });
      expect(delays).toEqual([undefined]);
      expect(calls).toHaveLength(1);
    }
  });

  it("cancels the stream when another order is watched, and reports nothing of the old one", async () => {
    const { client, calls } = scriptedClient([{ orders: [order(OrderStatus.PENDING)], error: new ConnectError("down", Code.Unavailable) }, { orders: [order(OrderStatus.SHIPPED)] }]);
    const { seen, events } = recorder();
    const watcher = new OrderWatcher(client as never, events, () => 60_000);
    watcher.watch("o-1");
    await waitFor(() => seen.includes("failed Unavailable"), { what: "the first stream's failure" });
    // Waiting to reconnect: watching another order cancels that wait and the old stream's signal.
    watcher.watch("o-2");
    await waitFor(() => seen.includes("ended"), { what: "the second watch" });
    expect(calls[0]!.signal?.aborted).toBe(true);
    expect(seen).toEqual(["order PENDING", "failed Unavailable", "order SHIPPED", "ended"]);
    watcher.stop();
    expect(calls[1]!.signal?.aborted).toBe(true);
  });

  it("backs off from about half a second up to at most ten seconds", () => {
    const first = reconnectBackoff(1);
    expect(first).toBeGreaterThanOrEqual(250);
    expect(first).toBeLessThanOrEqual(500);
    const durations = Array.from({ length: 21 }, (_, i) => reconnectBackoff(i + 1));
    expect(Math.max(...durations)).toBeLessThanOrEqual(10_000);
    expect(durations.at(-1)).toBeGreaterThanOrEqual(5_000);
  });
});
