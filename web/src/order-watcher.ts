import type { Order } from "../../gen/orders/v1/orders_pb.js";
import type { OrdersClient } from "./api.js";

/** How often the selected order is fetched again; OrderService has no server streaming to push changes. */
export const pollIntervalMs = 1000;

/** Polls GetOrder for one order at a time, a second after each answer, so calls never pile up. */
export class OrderWatcher {
  private current: AbortController | undefined;

  constructor(
    private readonly client: OrdersClient,
    private readonly onOrder: (order: Order) => void,
    private readonly onError: (err: unknown) => void,
  ) {}

  /** Starts watching the order with this id, replacing any order watched before. */
  watch(id: string): void {
    this.stop();
    const controller = new AbortController();
    this.current = controller;
    const tick = async () => {
      try {
        const { order } = await this.client.getOrder({ id }, { signal: controller.signal });
        if (!controller.signal.aborted && order) this.onOrder(order);
      } catch (err) {
        // Keep polling: a service restarting for a moment is exactly what watching should ride out.
        if (!controller.signal.aborted) this.onError(err);
      }
      if (!controller.signal.aborted) setTimeout(() => void tick(), pollIntervalMs);
    };
    void tick();
  }

  /** Stops polling and cancels the call in flight. */
  stop(): void {
    this.current?.abort();
    this.current = undefined;
  }
}
