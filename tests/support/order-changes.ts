import { randomUUID } from "node:crypto";
import { timestampNow } from "@bufbuild/protobuf/wkt";
import type { JetStreamClient, PubAck } from "@nats-io/jetstream";
import type { OrderUpdatedSchema } from "../../gen/orders/v1/events_pb.js";
import type { Order } from "../../gen/orders/v1/orders_pb.js";
import { catalogue, encodeEvent, eventFamilies, publishEvent, subjectOf, type EventDefinition } from "../../services/platform/events/index.js";

/** The orders events of the catalogue that carry an order and nothing required beside it. */
export type OrderChangeEvent = "orderCreated" | "orderUpdated" | "orderShipped" | "orderDelivered" | "orderCancelled" | "orderCancellationRequested";

/**
 * Publishes a catalogue event carrying exactly this order (status, version, update time as given) on
 * its subject under prefix, with the headers the outbox relay sets, as if orders had committed that
 * change. Resolves with the JetStream ack.
 */
export function publishOrderChange(js: JetStreamClient, prefix: string, kind: OrderChangeEvent, order: Order): Promise<PubAck> {
  // Every one of these messages is { event_id, order, occur_time, ... }; the cast picks one shape for all.
  const definition = catalogue[kind] as EventDefinition<typeof OrderUpdatedSchema>;
  const encoded = encodeEvent(definition, { eventId: randomUUID(), order, occurTime: timestampNow() });
  return publishEvent(js, {
    subject: subjectOf(definition, prefix),
    eventId: encoded.id,
    type: encoded.type,
    source: eventFamilies.orders.source,
    time: new Date(),
    payload: encoded.payload,
  });
}
