import { Code, ConnectError } from "@connectrpc/connect";
import type { JetStreamClient, JetStreamManager } from "@nats-io/jetstream";
import type { Shipment } from "../../gen/shipping/v1/shipping_pb.js";
import { startEventConsumer, type DurableConsumer, type EventDelivery, type HandleResult } from "../platform/events/index.js";
import type { Logger } from "../platform/process/index.js";
import { isRetryableCode } from "../platform/rpc/index.js";
import type { OrderStore, StoredOrder } from "./order-store.js";
import type { ShippingClient } from "./shipping-client.js";

/** Durable consumer name of shipping dispatch (see ARCHITECTURE.md). */
export const shippingDispatchConsumer = "shipping-dispatch";

/** What the dispatcher needs. */
export interface ShippingDispatcherOptions {
  js: JetStreamClient;
  jsm: JetStreamManager;
  stream: string;
  subjectPrefix: string;
  store: OrderStore;
  shipping: ShippingClient;
  logger: Logger;
  maxDeliver: number;
  maxBackoffMs: number;
  /** Must outlast the dispatch policy's worst case (3 attempts x 2 s plus backoff). */
  ackWaitMs: number;
  /** Events dispatched at once. Default 1. */
  concurrency?: number;
}

/** One orders.created event on its way through dispatch. */
type Dispatch = EventDelivery<"orderCreated">;

/**
 * The orders -> shipping step of the old `notify_shipping_service` task: for every orders.created event,
 * claims the order and asks ShippingService for its shipment. Safe to repeat at any point: the claim is
 * conditional, CreateShipment is idempotent per order_id, and the shipment id is recorded once.
 *
 * Dispatch runs in three steps, each a function of its own (claim, request the shipment, record it)
 * with the verdict on a failure apart, so that a batch handler can run each step for a whole batch
 * (one claim statement, one CreateShipments call) without changing what a step means.
 */
export function startShippingDispatcher(options: ShippingDispatcherOptions): Promise<DurableConsumer> {
  const { store, shipping } = options;
  const log = options.logger.child({ component: shippingDispatchConsumer });

  /** Claims the order, or says how to settle the event when there is nothing to ship. */
  async function claim(orderId: string): Promise<{ order: StoredOrder } | { result: HandleResult }> {
    const order = await store.claimForDispatch(orderId);
    if (order) return { order };
    // Off the hot path: tell an order with nothing left to ship (cancelled, shipped) from one that is not there.
    if (await store.get(orderId)) return { result: { ack: true } };
    return { result: { deadLetter: `order ${orderId} does not exist in this orders database` } };
  }

  /** CreateShipment through the dispatch policy, continuing the order's trace into shipping. */
  async function requestShipment(order: StoredOrder, traceparent: string | undefined): Promise<Shipment> {
    const { shipment } = await shipping.dispatch.call(({ signal, timeoutMs }) =>
      shipping.client.createShipment(
        {
          orderId: order.id,
          // Shipping answers this customer's reads of the shipment (and nobody else's).
          customerId: order.customerId,
          address: order.shippingAddress,
          items: order.items.map((i) => ({ sku: i.sku, quantity: i.quantity })),
        },
        { signal, timeoutMs, headers: traceparent ? { traceparent } : undefined },
      ),
    );
    if (!shipment) throw new ConnectError("CreateShipment returned no shipment", Code.Internal);
    return shipment;
  }

  /** What a failed CreateShipment means for the event. */
  function verdictOn(err: unknown, orderId: string): HandleResult {
    const error = ConnectError.from(err);
    // Shipping is down or slow (or the breaker is open): come back later rather than hammer it.
    if (isRetryableCode(error.code)) return { retry: error.message };
    // Shipping's verdict on this request (refused, unknown, not allowed): no redelivery can change it.
    return { deadLetter: `shipping answered ${Code[error.code]} for order ${orderId}: ${error.message}` };
  }

  async function dispatch({ event, msg }: Dispatch): Promise<HandleResult> {
    const orderId = event.orderId;
    const claimed = await claim(orderId);
    if ("result" in claimed) return claimed.result;
    const traceparent = msg.headers?.get("traceparent") || undefined;
    let shipment: Shipment;
    try {
      shipment = await requestShipment(claimed.order, traceparent);
    } catch (err) {
      return verdictOn(err, orderId);
    }
    const recorded = await store.recordShipment(orderId, shipment);
    if (recorded && "refused" in recorded) log.error({ orderId, shipmentId: shipment.id, reason: recorded.refused }, "shipment not recorded");
    else log.info({ orderId, shipmentId: shipment.id, traceparent }, "shipment created");
    return { ack: true };
  }

  return startEventConsumer({
    js: options.js,
    jsm: options.jsm,
    logger: options.logger,
    family: "orders",
    subjectPrefix: options.subjectPrefix,
    stream: options.stream,
    durable: shippingDispatchConsumer,
    events: ["orderCreated"],
    ackWaitMs: options.ackWaitMs,
    maxDeliver: options.maxDeliver,
    retryBackoff: { initialMs: 250, maxMs: options.maxBackoffMs },
    handle: dispatch,
    concurrency: options.concurrency ?? 1,
    async onDeadLetter({ event }) {
      if (event && (await store.markDispatchFailed(event.orderId))) log.error({ orderId: event.orderId }, "dispatch failed for good; order marked DISPATCH_FAILED");
    },
  });
}
