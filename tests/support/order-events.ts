import { randomUUID } from "node:crypto";
import { create, toBinary } from "@bufbuild/protobuf";
import { timestampNow } from "@bufbuild/protobuf/wkt";
import type { JetStreamClient, PubAck } from "@nats-io/jetstream";
import { OrderCancelledSchema, OrderCreatedSchema } from "../../gen/orders/v1/events_pb.js";
import { OrderSchema, OrderStatus, type Order } from "../../gen/orders/v1/orders_pb.js";
import { publishEvent } from "../../services/platform/events/index.js";

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

/** One order event ready to publish: its id, subject suffix, CloudEvents type and protobuf payload. */
export interface SampleEvent {
  eventId: string;
  kind: "created" | "cancelled";
  order: Order;
  payload: Uint8Array;
}

/** An orders.v1.OrderCreated (or OrderCancelled) event for the order. */
export function sampleEvent(kind: "created" | "cancelled", order: Order = sampleOrder()): SampleEvent {
  const eventId = randomUUID();
  const payload =
    kind === "created"
      ? toBinary(OrderCreatedSchema, create(OrderCreatedSchema, { eventId, order, occurTime: timestampNow() }))
      : toBinary(OrderCancelledSchema, create(OrderCancelledSchema, { eventId, order: { ...order, status: OrderStatus.CANCELLED }, occurTime: timestampNow(), reason: "changed my mind" }));
  return { eventId, kind, order, payload };
}

/**
 * Publishes the event on `${prefix}.${kind}` as the orders relay does. msgId defaults to the event id;
 * pass another one to get a second copy past JetStream de-duplication (a re-publish after the window).
 */
export function publishOrderEvent(js: JetStreamClient, prefix: string, event: SampleEvent, msgId = event.eventId): Promise<PubAck> {
  return publishEvent(js, {
    subject: `${prefix}.${event.kind}`,
    eventId: msgId,
    type: event.kind === "created" ? "orders.v1.OrderCreated" : "orders.v1.OrderCancelled",
    source: "/ordermesh/orders",
    time: new Date(),
    payload: event.payload,
  });
}
