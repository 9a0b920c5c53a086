import { randomUUID } from "node:crypto";
import { create } from "@bufbuild/protobuf";
import { timestampNow } from "@bufbuild/protobuf/wkt";
import type { JetStreamClient, PubAck } from "@nats-io/jetstream";
import { OrderSchema, OrderStatus, ShipmentSummarySchema, type Order } from "../../gen/orders/v1/orders_pb.js";
import { ShipmentStatus } from "../../gen/shipping/v1/shipping_pb.js";
import { catalogue, encodeEvent, publishEvent, subjectOf, typeOf, type EventDefinition } from "../../services/platform/events/index.js";

/** One order line of sampleOrder, in minor units of the order's currency. */
export interface SampleLineItem {
  sku: string;
  quantity: number;
  unitPriceCents: bigint;
}

/** An order with two lines (2 x 1250 + 1 x 399 = 2899 minor units in the given currency), or the lines given. */
export function sampleOrder(overrides: Partial<Pick<Order, "currency" | "customerEmail">> & { items?: SampleLineItem[] } = {}): Order {
  const items = overrides.items ?? [
    { sku: "MUG-BLUE", quantity: 2, unitPriceCents: 1250n },
    { sku: "TEA-<EARL>", quantity: 1, unitPriceCents: 399n },
  ];
  return create(OrderSchema, {
    id: randomUUID(),
    customerId: randomUUID(),
    customerEmail: overrides.customerEmail ?? `buyer-${randomUUID().slice(0, 8)}@example.com`,
    currency: overrides.currency ?? "EUR",
    items,
    totalCents: items.reduce((sum, i) => sum + i.unitPriceCents * BigInt(i.quantity), 0n),
    status: OrderStatus.PENDING,
    createTime: timestampNow(),
    updateTime: timestampNow(),
  });
}

/** The order events the notifier tests publish, by the catalogue's name. */
export type SampleEventKind = "created" | "cancelled" | "shipped" | "delivered" | "updated" | "cancellationRequested";

const definitions = {
  created: catalogue.orderCreated,
  cancelled: catalogue.orderCancelled,
  shipped: catalogue.orderShipped,
  delivered: catalogue.orderDelivered,
  updated: catalogue.orderUpdated,
  cancellationRequested: catalogue.orderCancellationRequested,
} satisfies Record<SampleEventKind, EventDefinition>;

/** One order event ready to publish: its id, kind, the order it carries and its protobuf payload. */
export interface SampleEvent {
  eventId: string;
  kind: SampleEventKind;
  order: Order;
  payload: Uint8Array;
}

/** The shipment a shipped or delivered sample order carries. */
export const sampleShipment = { carrier: "ParcelCo <Express>", trackingNumber: "PC-1234&5" } as const;

/**
 * An orders event of the given kind for the order (encoded by the catalogue); shipped and delivered
 * orders carry sampleShipment, cancellations the reason "changed my mind".
 */
export function sampleEvent(kind: SampleEventKind, order: Order = sampleOrder()): SampleEvent {
  const eventId = randomUUID();
  const status = { created: OrderStatus.PENDING, cancelled: OrderStatus.CANCELLED, shipped: OrderStatus.SHIPPED, delivered: OrderStatus.DELIVERED, updated: OrderStatus.SHIPMENT_REQUESTED, cancellationRequested: OrderStatus.CANCELLING }[kind];
  const shipped = kind === "shipped" || kind === "delivered";
  const shipment = shipped ? create(ShipmentSummarySchema, { id: randomUUID(), status: kind === "shipped" ? ShipmentStatus.PICKED_UP : ShipmentStatus.DELIVERED, ...sampleShipment }) : order.shipment;
  const committed = create(OrderSchema, { ...order, status, shipment });
  const reason = kind === "cancelled" || kind === "cancellationRequested" ? { reason: "changed my mind" } : {};
  const { payload } = encodeEvent(definitions[kind] as typeof catalogue.orderCancelled, { eventId, order: committed, occurTime: timestampNow(), ...reason });
  return { eventId, kind, order: committed, payload };
}

/**
 * Publishes the event on its catalogue subject under the prefix, as the orders relay does. msgId
 * defaults to the event id; pass another one to get a second copy past JetStream de-duplication (a
 * re-publish after the window).
 */
export function publishOrderEvent(js: JetStreamClient, prefix: string, event: SampleEvent, msgId = event.eventId): Promise<PubAck> {
  const definition = definitions[event.kind];
  return publishEvent(js, {
    subject: subjectOf(definition, prefix),
    eventId: msgId,
    type: typeOf(definition),
    source: "/ordermesh/orders",
    time: new Date(),
    payload: event.payload,
  });
}
