import { Code, ConnectError } from "@connectrpc/connect";
import type { JetStreamClient, JetStreamManager } from "@nats-io/jetstream";
import { startEventConsumer, type DecodedEvent, type DurableConsumer, type EventFamilyConfig, type HandleResult } from "../platform/events/index.js";
import type { Logger } from "../platform/process/index.js";
import { isRetryableCode } from "../platform/rpc/index.js";
import { isUuid } from "../platform/validation/index.js";
import type { OrderStore } from "./order-store.js";
import type { ShippingClient } from "./shipping-client.js";

/** Durable consumer name of the cancel saga (README "An order's life"). */
export const shipmentCancelConsumer = "shipment-cancel";

/**
 * JetStream's max_deliver for the saga: unlimited (-1). An outage must never dead-letter a cancellation
 * the customer was promised; shipping's verdicts (OK, FAILED_PRECONDITION, a refusal) end it.
 */
export const shipmentCancelMaxDeliver = -1;
// Outlasts the shipping policy's worst case for one delivery (3 attempts of 2 s plus backoff).
const cancelAckWaitMs = 30_000;
// Cancellations are rare next to orders; a few at once drain a backlog after an outage.
const cancelConcurrency = 4;

/** What the saga's consumer needs. */
export interface ShipmentCancellationOptions {
  js: JetStreamClient;
  jsm: JetStreamManager;
  /** Orders' own event family (the stream the cancellation requests are on). */
  orders: EventFamilyConfig;
  store: OrderStore;
  shipping: ShippingClient;
  logger: Logger;
  /** Upper bound of the delay between CancelShipment retries while shipping is unavailable. */
  maxBackoffMs: number;
}

/** What requestShipmentCancel needs besides the event. */
export interface CancelShipmentDeps {
  store: OrderStore;
  shipping: ShippingClient;
  logger: Logger;
}

/**
 * The saga's step for one OrderCancellationRequested: asks shipping to cancel the order's shipment
 * (by order id, so it works before the shipment exists). OK and FAILED_PRECONDITION (picked up first)
 * are acked: shipping's ShipmentCancelled or pickup event then moves the order. Retryable codes come
 * back later with backoff, forever; any other answer is shipping's verdict and is dead-lettered.
 * An order no longer CANCELLING (its outcome already arrived) is acked without calling shipping.
 */
export async function requestShipmentCancel(deps: CancelShipmentDeps, decoded: DecodedEvent): Promise<HandleResult> {
  if (decoded.key !== "orderCancellationRequested") return { ack: true };
  const { orderId } = decoded;
  if (!isUuid(orderId)) return { deadLetter: `cancellation requested for order ${JSON.stringify(orderId)}, not a UUID` };
  const order = await deps.store.get(orderId);
  if (!order) return { deadLetter: `order ${orderId} does not exist in this orders database` };
  if (order.status !== "cancelling") return { ack: true };
  try {
    await deps.shipping.dispatch.call(({ signal, timeoutMs }) =>
      // Runs in the message's CONSUMER span: the transport's CLIENT span continues the order's trace.
      deps.shipping.client.cancelShipment({ orderId }, { signal, timeoutMs }),
    );
    deps.logger.info({ orderId }, "shipment cancellation confirmed by shipping");
    return { ack: true };
  } catch (err) {
    const error = ConnectError.from(err);
    if (error.code === Code.FailedPrecondition) {
      deps.logger.info({ orderId, reason: error.rawMessage }, "shipment already picked up; the cancellation is dropped when the pickup arrives");
      return { ack: true };
    }
    // The consumer's backoff (capped at maxBackoffMs) spaces the retries.
    if (isRetryableCode(error.code)) return { retry: error.message };
    return { deadLetter: `shipping answered ${Code[error.code]} to CancelShipment for order ${orderId}: ${error.message}` };
  }
}

/**
 * Starts the durable consumer `shipment-cancel` on `<orders prefix>.cancellation_requested`. When
 * shipping refuses a cancellation for good (dead letter), the order goes back to SHIPMENT_REQUESTED.
 */
export function startShipmentCancellation(options: ShipmentCancellationOptions): Promise<DurableConsumer> {
  const { orders } = options;
  const log = options.logger.child({ component: shipmentCancelConsumer });
  const deps: CancelShipmentDeps = { store: options.store, shipping: options.shipping, logger: log };
  return startEventConsumer({
    js: options.js,
    jsm: options.jsm,
    logger: options.logger,
    family: "orders",
    subjectPrefix: orders.subjectPrefix,
    stream: orders.stream,
    durable: shipmentCancelConsumer,
    events: ["orderCancellationRequested"],
    ackWaitMs: cancelAckWaitMs,
    maxDeliver: shipmentCancelMaxDeliver,
    retryBackoff: { initialMs: 250, maxMs: options.maxBackoffMs },
    concurrency: cancelConcurrency,
    handle: ({ event }) => requestShipmentCancel(deps, event),
    async onDeadLetter({ event }) {
      if (!event) return;
      if (await options.store.dropCancellation(event.orderId)) log.error({ orderId: event.orderId }, "shipping refused the cancellation for good; order back to SHIPMENT_REQUESTED");
    },
  });
}
