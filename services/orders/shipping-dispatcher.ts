import { Code, ConnectError } from "@connectrpc/connect";
import type { JetStreamClient, JetStreamManager } from "@nats-io/jetstream";
import type { CreateShipmentsResult } from "../../gen/shipping/v1/shipping_pb.js";
import { startEventConsumer, type DurableConsumer, type EventDelivery, type HandleResult } from "../platform/events/index.js";
import type { Logger } from "../platform/process/index.js";
import { isRetryableCode } from "../platform/rpc/index.js";
import { runInContext, traceparentOf, type Context } from "../platform/telemetry/index.js";
import { isUuid } from "../platform/validation/index.js";
import type { OrderStore, StoredOrder } from "./order-store.js";
import type { ShippingClient } from "./shipping-client.js";

/** Durable consumer name of shipping dispatch (see ARCHITECTURE.md). */
export const shippingDispatchConsumer = "shipping-dispatch";

/** The most orders one dispatch batch (one CreateShipments call) carries: shipping's own limit. */
export const maxDispatchBatch = 500;

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
  /** Must outlast the dispatch policy's worst case (3 attempts x 2 s plus backoff) and a batch's two statements. */
  ackWaitMs: number;
  /** orders.created events dispatched together: one claim, one CreateShipments, one record (1 to 500). Default 1. */
  batchSize?: number;
  /** Batches in flight at once (one order's events never in two of them). Default 1. */
  batchesInFlight?: number;
}

/** One orders.created event on its way through dispatch. */
type Dispatch = EventDelivery<"orderCreated">;

/**
 * The orders -> shipping step of the old `notify_shipping_service` task, for the orders.created events
 * this replica holds together: one statement claims their orders, one CreateShipments call asks
 * ShippingService for all their shipments, one transaction records them, and the acks leave together.
 * Safe to repeat at any point: the claim is conditional, CreateShipments is idempotent per order_id,
 * and a shipment id is recorded once.
 *
 * Each event keeps its own verdict: an order with nothing to ship is acked, one that is not there is
 * dead-lettered, and CreateShipments' answer for each order decides that order alone (retry for
 * retryable codes, dead letter otherwise); the call failing as a whole gives its verdict to every order
 * it carried (a retryable failure retries them all).
 */
export function startShippingDispatcher(options: ShippingDispatcherOptions): Promise<DurableConsumer> {
  const { store, shipping } = options;
  const log = options.logger.child({ component: shippingDispatchConsumer });
  const batchSize = options.batchSize ?? 1;
  if (!(batchSize >= 1 && batchSize <= maxDispatchBatch)) throw new Error(`dispatch batch size must be 1 to ${maxDispatchBatch}, got ${batchSize}`);

  /** Claims the orders; gives those with nothing to ship their verdict. */
  async function claim(orderIds: readonly string[], verdicts: Map<string, HandleResult>): Promise<StoredOrder[]> {
    const claimed = await store.claimManyForDispatch(orderIds);
    const claimedIds = new Set(claimed.map((order) => order.id));
    const unclaimed = orderIds.filter((id) => !claimedIds.has(id));
    // Off the hot path: tell an order with nothing left to ship (cancelled, shipped) from one that is not there.
    const present = await store.existing(unclaimed);
    for (const id of unclaimed) verdicts.set(id, present.has(id) ? { ack: true } : { deadLetter: `order ${id} does not exist in this orders database` });
    return claimed;
  }

  /** One CreateShipments for the claimed orders through the dispatch policy; one result per order, in order. */
  async function requestShipments(orders: readonly StoredOrder[]): Promise<CreateShipmentsResult[]> {
    const { results } = await shipping.dispatch.call(({ signal, timeoutMs }) =>
      shipping.client.createShipments(
        {
          requests: orders.map((order) => ({
            orderId: order.id,
            // Shipping answers this customer's reads of the shipment (and nobody else's).
            customerId: order.customerId,
            address: order.shippingAddress,
            items: order.items.map((i) => ({ sku: i.sku, quantity: i.quantity })),
          })),
        },
        { signal, timeoutMs },
      ),
    );
    if (results.length !== orders.length) throw new ConnectError(`CreateShipments answered ${results.length} results for ${orders.length} requests`, Code.Internal);
    return results;
  }

  /** What a failed CreateShipments (the whole call, or one order's answer in it) means for the event. */
  function verdictOn(code: Code, message: string, orderId: string): HandleResult {
    // Shipping is down or slow (or the breaker is open): come back later rather than hammer it.
    if (isRetryableCode(code)) return { retry: message };
    // Shipping's verdict on this request (refused, unknown, not allowed): no redelivery can change it.
    return { deadLetter: `shipping answered ${Code[code]} for order ${orderId}: ${message}` };
  }

  /**
   * Dispatches the orders of a batch; returns each order's verdict by its (lower-case) id. The call to
   * shipping runs in the batch's span (the first order's trace, linked to the others); each order's
   * OrderUpdated carries its own message's span, so its trace goes on from there.
   */
  async function dispatch(orderIds: readonly string[], traces: ReadonlyMap<string, Context | undefined>): Promise<Map<string, HandleResult>> {
    const verdicts = new Map<string, HandleResult>();
    const orders = await claim(orderIds, verdicts);
    if (orders.length === 0) return verdicts;
    let answers: CreateShipmentsResult[];
    try {
      answers = await requestShipments(orders);
    } catch (err) {
      const error = ConnectError.from(err);
      for (const order of orders) verdicts.set(order.id, verdictOn(error.code, error.message, order.id));
      return verdicts;
    }
    const shipped = orders.flatMap((order, k) => {
      const answer = answers[k]!.result;
      if (answer.case === "shipment") return [{ orderId: order.id, shipment: answer.value }];
      const status = answer.case === "error" ? answer.value : { code: Code.Internal, message: "CreateShipments answered no result" };
      verdicts.set(order.id, verdictOn(status.code as Code, status.message, order.id));
      return [];
    });
    const recorded = await store.recordShipments(shipped.map((s) => ({ ...s, traceparent: traces.get(s.orderId) && traceparentOf(traces.get(s.orderId)) })));
    shipped.forEach(({ orderId, shipment }, k) => {
      const outcome = recorded[k];
      runInContext(traces.get(orderId), () => {
        if (outcome && "refused" in outcome) log.error({ orderId, shipmentId: shipment.id, reason: outcome.refused }, "shipment not recorded");
        else log.info({ orderId, shipmentId: shipment.id }, "shipment created");
      });
      verdicts.set(orderId, { ack: true });
    });
    return verdicts;
  }

  async function dispatchBatch(deliveries: Dispatch[]): Promise<HandleResult[]> {
    // Checked first: one id that is not a UUID would fail the batch's statements for every event in it.
    const orderIds = [...new Set(deliveries.filter(({ event }) => isUuid(event.orderId)).map(({ event }) => event.orderId.toLowerCase()))];
    const traces = new Map(deliveries.map(({ event, trace }) => [event.orderId.toLowerCase(), trace]));
    const verdicts = await dispatch(orderIds, traces);
    return deliveries.map(({ event }) =>
      isUuid(event.orderId) ? verdicts.get(event.orderId.toLowerCase())! : { deadLetter: `orders.created names order ${JSON.stringify(event.orderId)}, not a UUID` },
    );
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
    handleBatch: dispatchBatch,
    maxBatch: batchSize,
    concurrency: options.batchesInFlight ?? 1,
    async onDeadLetter({ event }) {
      if (event && isUuid(event.orderId) && (await store.markDispatchFailed(event.orderId))) log.error({ orderId: event.orderId }, "dispatch failed for good; order marked DISPATCH_FAILED");
    },
  });
}
