import { create, fromBinary, toBinary, type DescMessage, type MessageInitShape, type MessageShape } from "@bufbuild/protobuf";
import {
  OrderCancellationRequestedSchema,
  OrderCancelledSchema,
  OrderCreatedSchema,
  OrderDeliveredSchema,
  OrderShippedSchema,
  OrderUpdatedSchema,
} from "../../../gen/orders/v1/events_pb.js";
import { ShipmentCancelledSchema, ShipmentCreatedSchema, ShipmentStatusChangedSchema } from "../../../gen/shipping/v1/events_pb.js";
import { readString, type Env } from "../process/config.js";

/**
 * The catalogue of every event in the mesh: the one place that says which family (stream) an event
 * belongs to, its name (the subject is `<prefix>.<name>`), its protobuf message (whose full name is
 * the CloudEvents `ce-type`), and which order it is about. Every event's id is its `event_id` field,
 * used as CloudEvents `ce-id` and as `Nats-Msg-Id` (JetStream drops a re-publish within the
 * duplicate window). Producers encode with `encodeEvent`, consumers decode with `decodeEvent`.
 */

/** A family of events: one producer, one stream, one subject prefix. */
export type EventFamily = "orders" | "shipping";

/** Where a family's events live; the defaults are the map's, tests and deployments may rename. */
export interface EventFamilyConfig {
  /** JetStream stream, e.g. "ORDERS"; its dead letters go to `${stream}_DEADLETTER`. */
  stream: string;
  /** Subject prefix, e.g. "orders": events are `${subjectPrefix}.<name>`. */
  subjectPrefix: string;
}

/** Every family's stream and prefix with the map's defaults and the environment variables that rename them. */
export const eventFamilies: Record<EventFamily, { defaults: EventFamilyConfig; env: { stream: string; subjectPrefix: string }; source: string }> = {
  orders: { defaults: { stream: "ORDERS", subjectPrefix: "orders" }, env: { stream: "EVENTS_STREAM", subjectPrefix: "EVENTS_SUBJECT_PREFIX" }, source: "/ordermesh/orders" },
  shipping: {
    defaults: { stream: "SHIPPING", subjectPrefix: "shipping" },
    env: { stream: "SHIPPING_EVENTS_STREAM", subjectPrefix: "SHIPPING_EVENTS_SUBJECT_PREFIX" },
    source: "/ordermesh/shipping",
  },
};

/** Reads a family's stream and subject prefix from the environment (EVENTS_* for orders, SHIPPING_EVENTS_* for shipping). */
export function readEventFamily(env: Env, family: EventFamily): EventFamilyConfig {
  const { defaults, env: names } = eventFamilies[family];
  return { stream: readString(env, names.stream, defaults.stream), subjectPrefix: readString(env, names.subjectPrefix, defaults.subjectPrefix) };
}

/** Reads every family's stream and subject prefix from the environment (see readEventFamily), in the catalogue's family order. */
export function readEventFamilies(env: Env): Record<EventFamily, EventFamilyConfig> {
  return { orders: readEventFamily(env, "orders"), shipping: readEventFamily(env, "shipping") };
}

/** One kind of event. */
export interface EventDefinition<S extends DescMessage = DescMessage> {
  family: EventFamily;
  /** Last subject token, e.g. "created". */
  name: string;
  schema: S;
  /** The order the event is about: the outbox's aggregate id and the consumers' ordering key. */
  orderIdOf(event: MessageShape<S>): string | undefined;
}

interface WithEventId {
  eventId: string;
}

function define<S extends DescMessage>(family: EventFamily, name: string, schema: S, orderIdOf: (event: MessageShape<S>) => string | undefined): EventDefinition<S> {
  return { family, name, schema, orderIdOf };
}

const orderOf = (e: { order?: { id: string } | undefined }) => e.order?.id;
const shipmentOrderOf = (e: { shipment?: { orderId: string } | undefined }) => e.shipment?.orderId;

/** Every event of the mesh. */
export const catalogue = {
  orderCreated: define("orders", "created", OrderCreatedSchema, orderOf),
  orderCancellationRequested: define("orders", "cancellation_requested", OrderCancellationRequestedSchema, orderOf),
  orderCancelled: define("orders", "cancelled", OrderCancelledSchema, orderOf),
  orderShipped: define("orders", "shipped", OrderShippedSchema, orderOf),
  orderDelivered: define("orders", "delivered", OrderDeliveredSchema, orderOf),
  orderUpdated: define("orders", "updated", OrderUpdatedSchema, orderOf),
  shipmentCreated: define("shipping", "created", ShipmentCreatedSchema, shipmentOrderOf),
  shipmentStatusChanged: define("shipping", "status_changed", ShipmentStatusChangedSchema, shipmentOrderOf),
  shipmentCancelled: define("shipping", "cancelled", ShipmentCancelledSchema, shipmentOrderOf),
} as const;

/** The catalogue's events of one family. */
export function eventsOf(family: EventFamily): EventDefinition[] {
  return Object.values(catalogue).filter((d) => d.family === family) as EventDefinition[];
}

/** The subject an event is published on under a family's prefix. */
export function subjectOf(definition: EventDefinition, subjectPrefix: string): string {
  return `${subjectPrefix}.${definition.name}`;
}

/** The CloudEvents type of an event: its protobuf message's full name. */
export function typeOf(definition: EventDefinition): string {
  return definition.schema.typeName;
}

/** An event ready for an outbox row: what the relay publishes, and in which per-order sequence. */
export interface EncodedEvent {
  /** The event's id: outbox row id, ce-id, Nats-Msg-Id. */
  id: string;
  /** Last subject token (the outbox's event_name). */
  name: string;
  /** ce-type. */
  type: string;
  /** The order the event is about (the outbox's aggregate_id). */
  orderId: string;
  payload: Uint8Array;
}

/** Builds and encodes an event; its event_id and order id must be set. */
export function encodeEvent<S extends DescMessage>(definition: EventDefinition<S>, init: MessageInitShape<S> & WithEventId): EncodedEvent {
  const message = create(definition.schema, init);
  const orderId = definition.orderIdOf(message);
  if (!orderId) throw new Error(`${typeOf(definition)} needs the order it is about`);
  return { id: init.eventId, name: definition.name, type: typeOf(definition), orderId, payload: toBinary(definition.schema, message) };
}

/** The catalogue's event published on a subject of a family, or why there is none. */
export function eventOfSubject(family: EventFamily, subjectPrefix: string, subject: string): { key: keyof typeof catalogue; definition: EventDefinition } | { unknown: string } {
  if (!subject.startsWith(`${subjectPrefix}.`)) return { unknown: `subject ${subject} is not under ${subjectPrefix}.` };
  const name = subject.slice(subjectPrefix.length + 1);
  const entry = Object.entries(catalogue).find(([, d]) => d.family === family && d.name === name);
  if (!entry) return { unknown: `no ${family} event is published on ${subject}` };
  const [key, definition] = entry as [keyof typeof catalogue, EventDefinition];
  return { key, definition };
}

/** A decoded event, tagged with its definition so handlers can switch on it with full types. */
export type DecodedEvent = {
  [K in keyof typeof catalogue]: { key: K; definition: (typeof catalogue)[K]; event: MessageShape<(typeof catalogue)[K]["schema"]>; orderId: string };
}[keyof typeof catalogue];

/** What decodeEvent made of a message. */
export type DecodeResult = DecodedEvent | { unknown: string } | { poison: string };

/**
 * Decodes a message of a family by its subject. A subject the catalogue does not know is `unknown`
 * (consumers skip it); a known subject whose payload does not decode, or lacks its event id or
 * order id, is `poison` (consumers dead-letter it).
 */
export function decodeEvent(family: EventFamily, subjectPrefix: string, subject: string, data: Uint8Array): DecodeResult {
  const found = eventOfSubject(family, subjectPrefix, subject);
  if ("unknown" in found) return found;
  const { key, definition } = found;
  let event: MessageShape<DescMessage> & Partial<WithEventId>;
  try {
    event = fromBinary(definition.schema, data) as typeof event;
  } catch (err) {
    return { poison: `undecodable ${typeOf(definition)} on ${subject}: ${err instanceof Error ? err.message : String(err)}` };
  }
  if (!event.eventId) return { poison: `${typeOf(definition)} on ${subject} has no event_id` };
  const orderId = definition.orderIdOf(event);
  if (!orderId) return { poison: `${typeOf(definition)} ${event.eventId} names no order` };
  return { key, definition, event, orderId } as DecodedEvent;
}
