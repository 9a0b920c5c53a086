import { fromBinary } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import type { JetStreamClient, JetStreamManager, JsMsg } from "@nats-io/jetstream";
import { OrderCreatedSchema, type OrderCreated } from "../../gen/orders/v1/events_pb.js";
import { backoffMs, startDurableConsumer, type DurableConsumer, type HandleResult } from "../platform/events/index.js";
import { deadLetterSubject } from "../platform/events/index.js";
import type { Logger } from "../platform/process/index.js";
import { isRetryableCode } from "../platform/rpc/index.js";
import type { OrderStore } from "./order-store.js";
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

/**
 * The orders -> shipping step of the old `notify_shipping_service` task: for every orders.created event,
 * claims the order and asks ShippingService for its shipment. Safe to repeat at any point: the claim is
 * conditional, CreateShipment is idempotent per order_id, and the shipment id is recorded once.
 */
export function startShippingDispatcher(options: ShippingDispatcherOptions): Promise<DurableConsumer> {
  const { store, shipping } = options;
  const log = options.logger.child({ component: shippingDispatchConsumer });
  const retryTuning = { initial: 250, max: options.maxBackoffMs };

  async function handle(msg: JsMsg): Promise<HandleResult> {
    let event: OrderCreated;
    try {
      event = fromBinary(OrderCreatedSchema, msg.data);
    } catch (err) {
      return { deadLetter: `undecodable orders.v1.OrderCreated: ${String(err)}` };
    }
    const orderId = event.order?.id;
    if (!orderId) return { deadLetter: "OrderCreated without an order id" };
    const order = await store.claimForDispatch(orderId);
    if (!order) {
      // Off the hot path: tell an order with nothing left to ship (cancelled, shipped) from one that is not there.
      if (await store.get(orderId)) return { ack: true };
      return { deadLetter: `order ${orderId} does not exist in this orders database` };
    }
    try {
      const traceparent = msg.headers?.get("traceparent") || undefined;
      const { shipment } = await shipping.dispatch.call(({ signal, timeoutMs }) =>
        shipping.client.createShipment(
          {
            orderId,
            // Shipping answers this customer's reads of the shipment (and nobody else's).
            customerId: order.customerId,
            address: order.shippingAddress,
            items: order.items.map((i) => ({ sku: i.sku, quantity: i.quantity })),
          },
          // The order's trace continues into shipping (W3C traceparent from the event's headers).
          { signal, timeoutMs, headers: traceparent ? { traceparent } : undefined },
        ),
      );
      if (!shipment) throw new ConnectError("CreateShipment returned no shipment", Code.Internal);
      const recorded = await store.recordShipment(orderId, shipment);
      if (recorded && "refused" in recorded) log.error({ orderId, shipmentId: shipment.id, reason: recorded.refused }, "shipment not recorded");
      else log.info({ orderId, shipmentId: shipment.id, traceparent }, "shipment created");
      return { ack: true };
    } catch (err) {
      const error = ConnectError.from(err);
      if (isRetryableCode(error.code)) {
        // Shipping is down or slow (or the breaker is open): come back later rather than hammer it.
        return { retryInMs: backoffMs(msg.info.deliveryCount, retryTuning), reason: error.message };
      }
      // Shipping's verdict on this request (refused, unknown, not allowed): no redelivery can change it.
      return { deadLetter: `shipping answered ${Code[error.code]} for order ${orderId}: ${error.message}` };
    }
  }

  return startDurableConsumer({
    js: options.js,
    jsm: options.jsm,
    stream: options.stream,
    durable: shippingDispatchConsumer,
    filterSubject: `${options.subjectPrefix}.created`,
    ackWaitMs: options.ackWaitMs,
    maxDeliver: options.maxDeliver,
    deadLetterSubject: deadLetterSubject(options.subjectPrefix, shippingDispatchConsumer),
    logger: options.logger,
    retryBackoffMs: retryTuning,
    handle,
    // Orders are independent of each other and each event is about one order: no ordering key needed.
    concurrency: options.concurrency ?? 1,
    async onDeadLetter(msg) {
      const orderId = safeOrderId(msg);
      if (orderId && (await store.markDispatchFailed(orderId))) log.error({ orderId }, "dispatch failed for good; order marked DISPATCH_FAILED");
    },
  });
}

function safeOrderId(msg: JsMsg): string | undefined {
  try {
    return fromBinary(OrderCreatedSchema, msg.data).order?.id;
  } catch {
    return undefined;
  }
}
