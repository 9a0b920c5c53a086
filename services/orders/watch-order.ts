import { Code, ConnectError, type HandlerContext } from "@connectrpc/connect";
import { create } from "@bufbuild/protobuf";
import { OrderStatus, type WatchOrderRequest, type WatchOrderResponse, WatchOrderResponseSchema } from "../../gen/orders/v1/orders_pb.js";
import { callerOf, mayActFor } from "../platform/identity/index.js";
import { requireUuid } from "../platform/validation/index.js";
import { orderToProto } from "./order-mapping.js";
import type { OrderStore } from "./order-store.js";
import type { OrderWatchHub } from "./order-watch-hub.js";

/** Statuses after which an order does not change for a watcher: the stream sends it and ends OK. */
export const finalWatchStatuses: ReadonlySet<OrderStatus> = new Set([OrderStatus.DELIVERED, OrderStatus.CANCELLED, OrderStatus.DISPATCH_FAILED]);

/**
 * WatchOrder: the order now, then every newer state until a final status or the caller's cancel.
 * The watcher is registered before the database read, so a change committed between the read and
 * the first message still arrives (as an event); the read also decides access, like GetOrder.
 */
export async function* watchOrder(hub: OrderWatchHub | undefined, store: OrderStore, req: WatchOrderRequest, ctx: HandlerContext): AsyncGenerator<WatchOrderResponse> {
  requireUuid("id", req.id);
  if (!hub) throw new ConnectError("WatchOrder is not served by this process", Code.Unimplemented);
  const watcher = hub.watch(req.id);
  try {
    const stored = await store.get(req.id);
    // Another customer's order is answered exactly like a missing one: its existence is not revealed.
    if (!stored || !mayActFor(callerOf(ctx), stored.customerId)) throw new ConnectError(`order ${req.id} not found`, Code.NotFound);
    watcher.offer(orderToProto(stored));
    for (;;) {
      const order = await watcher.next(ctx.signal);
      yield create(WatchOrderResponseSchema, { order });
      if (finalWatchStatuses.has(order.status)) return;
    }
  } finally {
    watcher.close();
  }
}
