import { randomUUID } from "node:crypto";
import { create, type MessageInitShape } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import type { JetStreamClient, PubAck } from "@nats-io/jetstream";
import { type Shipment, ShipmentSchema, ShipmentStatus } from "../../gen/shipping/v1/shipping_pb.js";
import { catalogue, encodeEvent, eventFamilies, publishEvent, subjectOf, type EncodedEvent } from "../../services/platform/events/index.js";

/** A shipment of an order as shipping's events carry it: PENDING, version 1, unless overridden. */
export function shipmentOf(orderId: string, overrides: MessageInitShape<typeof ShipmentSchema> = {}): Shipment {
  const now = timestampFromDate(new Date());
  return create(ShipmentSchema, {
    id: randomUUID(),
    orderId,
    status: ShipmentStatus.PENDING,
    carrier: "DHL",
    trackingNumber: `OM${Math.floor(Math.random() * 1e9)}`,
    createTime: now,
    updateTime: now,
    version: 1n,
    ...overrides,
  });
}

/** The shipment moved on to a status: the next version, as shipping commits it. */
export function movedOn(shipment: Shipment, status: ShipmentStatus, versions = 1n): Shipment {
  return create(ShipmentSchema, { ...shipment, status, version: shipment.version + versions, updateTime: timestampFromDate(new Date()) });
}

/** The catalogue event shipping publishes for a shipment in this state (created, status changed, cancelled). */
export function shippingEventFor(shipment: Shipment): EncodedEvent {
  const eventId = randomUUID();
  const occurTime = shipment.updateTime;
  if (shipment.status === ShipmentStatus.CANCELLED) return encodeEvent(catalogue.shipmentCancelled, { eventId, shipment, occurTime });
  if (shipment.status === ShipmentStatus.PENDING) return encodeEvent(catalogue.shipmentCreated, { eventId, shipment, occurTime });
  return encodeEvent(catalogue.shipmentStatusChanged, { eventId, shipment, occurTime });
}

/**
 * Publishes the event as shipping's relay does, on `<prefix>.<name>`. msgId defaults to the event id;
 * pass another one to get a second copy past JetStream's de-duplication (a redelivery).
 */
export function publishShippingEvent(js: JetStreamClient, subjectPrefix: string, event: EncodedEvent, msgId = event.id): Promise<PubAck> {
  const definition = Object.values(catalogue).find((d) => d.family === "shipping" && d.name === event.name)!;
  return publishEvent(js, {
    subject: subjectOf(definition, subjectPrefix),
    eventId: msgId,
    type: event.type,
    source: eventFamilies.shipping.source,
    time: new Date(),
    payload: event.payload,
  });
}
