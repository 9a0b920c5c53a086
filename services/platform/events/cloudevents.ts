import type { JetStreamClient, JsMsg, PubAck } from "@nats-io/jetstream";
import { headers, Match, type MsgHdrs } from "@nats-io/transport-node";

/** CloudEvents 1.0 binary-mode header names over NATS (attribute values travel as headers, data as payload). */
export const CloudEventHeader = {
  specVersion: "ce-specversion",
  id: "ce-id",
  type: "ce-type",
  source: "ce-source",
  time: "ce-time",
  contentType: "content-type",
  traceparent: "traceparent",
} as const;

/** The content type of protobuf-binary event data. */
export const protobufContentType = "application/protobuf";

/** One event to publish. */
export interface OutgoingEvent {
  subject: string;
  /** Unique id of the event: ce-id and Nats-Msg-Id, so JetStream drops a re-publish within the duplicate window. */
  eventId: string;
  /** Full protobuf message name of the payload, e.g. "orders.v1.OrderCreated". */
  type: string;
  /** URI-reference of the producer, e.g. "/ordermesh/orders". */
  source: string;
  /** When the event happened. */
  time: Date;
  /** Protobuf-binary event data. */
  payload: Uint8Array;
  /** W3C trace context of the transaction that produced the event, if any. */
  traceparent?: string | undefined;
  /** How long to wait for the PubAck. */
  timeoutMs?: number;
}

/** An event as read back from a message. */
export interface IncomingEvent {
  id: string;
  type: string;
  source: string;
  /** ce-time parsed; undefined when absent or not a valid RFC 3339 time. */
  time: Date | undefined;
  traceparent: string | undefined;
  data: Uint8Array;
}

/** Builds the CloudEvents binary-mode headers of an event. */
export function cloudEventHeaders(event: Omit<OutgoingEvent, "subject" | "payload" | "timeoutMs">): MsgHdrs {
  const h = headers();
  h.set(CloudEventHeader.specVersion, "1.0");
  h.set(CloudEventHeader.id, event.eventId);
  h.set(CloudEventHeader.type, event.type);
  h.set(CloudEventHeader.source, event.source);
  h.set(CloudEventHeader.time, event.time.toISOString());
  h.set(CloudEventHeader.contentType, protobufContentType);
  if (event.traceparent) h.set(CloudEventHeader.traceparent, event.traceparent);
  return h;
}

/** Publishes one event to JetStream and returns the PubAck (duplicate: true when the id was seen already). */
export function publishEvent(js: JetStreamClient, event: OutgoingEvent): Promise<PubAck> {
  return js.publish(event.subject, event.payload, {
    msgID: event.eventId,
    headers: cloudEventHeaders(event),
    ...(event.timeoutMs !== undefined ? { timeout: event.timeoutMs } : {}),
  });
}

/** Reads the CloudEvents attributes and data of a message; missing attributes come back as "". */
export function readCloudEvent(msg: Pick<JsMsg, "headers" | "data">): IncomingEvent {
  // Other producers may capitalise header names (Ce-Id); CloudEvents attribute names are case-insensitive.
  const get = (name: string) => msg.headers?.get(name, Match.IgnoreCase) ?? "";
  const rawTime = get(CloudEventHeader.time);
  const time = rawTime ? new Date(rawTime) : undefined;
  return {
    id: get(CloudEventHeader.id),
    type: get(CloudEventHeader.type),
    source: get(CloudEventHeader.source),
    time: time && !Number.isNaN(time.getTime()) ? time : undefined,
    traceparent: get(CloudEventHeader.traceparent) || undefined,
    data: msg.data,
  };
}
