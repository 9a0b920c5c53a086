import { fromBinary } from "@bufbuild/protobuf";
import type { JetStreamClient, JetStreamManager, JsMsg } from "@nats-io/jetstream";
import { OrderCancelledSchema, OrderCreatedSchema } from "../../gen/orders/v1/events_pb.js";
import type { Order } from "../../gen/orders/v1/orders_pb.js";
import { backoffMs, startDurableConsumer, type DurableConsumer, type HandleResult } from "../platform/events/index.js";
import { deadLetterSubject, ensureEventStreams } from "../platform/events/index.js";
import type { Logger } from "../platform/process/index.js";
import { isUuid } from "../platform/validation/index.js";
import type { NotificationKind } from "./db/schema.js";
import { eventMessageId, type Mailer } from "./mailer.js";
import type { NotificationStore } from "./notification-store.js";
import { buildOrderEmail } from "./order-email.js";

/** Everything the notifier's consumer needs. */
export interface OrderEventsConsumerOptions {
  js: JetStreamClient;
  jsm: JetStreamManager;
  stream: string;
  subjectPrefix: string;
  store: NotificationStore;
  mailer: Mailer;
  logger: Logger;
  /** Longer than the mailer's send deadline, so a slow send is never redelivered while it runs. */
  ackWaitMs: number;
  maxDeliver: number;
  /** Durable name; "notifier" in production. */
  durable?: string;
  /** Backoff of failed sends. Defaults 2 s doubling up to 60 s. */
  retryBackoffMs?: { initial: number; max: number };
  /** Events handled at once; one order's events still go one after another. Default 1. */
  concurrency?: number;
}

/** A decoded order event, or why it is skipped or poison. */
export type DecodedOrderEvent =
  | { kind: NotificationKind; eventId: string; order: Order; cancelReason: string }
  | { ignore: string }
  | { poison: string };

/** Starts the durable consumer `notifier` on `${prefix}.>`: one email per created or cancelled order event. */
export async function startOrderEventsConsumer(options: OrderEventsConsumerOptions): Promise<DurableConsumer> {
  const durable = options.durable ?? "notifier";
  const retry = options.retryBackoffMs ?? { initial: 2000, max: 60_000 };
  const log = options.logger.child({ consumer: durable });

  const handle = async (msg: JsMsg): Promise<HandleResult> => {
    const event = decodeOrderEvent(options.subjectPrefix, msg.subject, msg.data);
    if ("ignore" in event) return { ack: true };
    if ("poison" in event) return { deadLetter: event.poison };
    const email = buildOrderEmail(event.kind, event.order, event.cancelReason);
    const claim = {
      eventId: event.eventId,
      orderId: event.order.id,
      kind: event.kind,
      recipient: event.order.customerEmail,
      subject: email.subject,
    };
    const outcome = await options.store.sendOnce(claim, () =>
      options.mailer.send({ to: claim.recipient, ...email, messageId: eventMessageId(event.eventId) }),
    );
    const fields = { eventId: event.eventId, orderId: event.order.id, kind: event.kind, delivery: msg.info.deliveryCount };
    if (outcome.kind === "failed") {
      const reason = outcome.error instanceof Error ? outcome.error.message : String(outcome.error);
      log.warn({ ...fields, err: outcome.error }, "email not sent; will retry");
      return { retryInMs: backoffMs(msg.info.deliveryCount, retry), reason };
    }
    log.info({ ...fields, outcome: outcome.kind, attempts: outcome.row.attempts }, outcome.kind === "sent" ? "email sent" : "email already sent; skipped");
    return { ack: true };
  };

  return startDurableConsumer({
    js: options.js,
    jsm: options.jsm,
    stream: options.stream,
    durable,
    // One filter for both kinds: NATS 2.9 has no multi-filter consumers; other kinds are acked and skipped.
    filterSubject: `${options.subjectPrefix}.>`,
    ackWaitMs: options.ackWaitMs,
    maxDeliver: options.maxDeliver,
    deadLetterSubject: deadLetterSubject(options.subjectPrefix, durable),
    logger: options.logger,
    handle,
    concurrency: options.concurrency ?? 1,
    // A cancellation email must never overtake the confirmation of the same order.
    orderingKey: (msg) => {
      const event = decodeOrderEvent(options.subjectPrefix, msg.subject, msg.data);
      return "order" in event ? event.order.id : undefined;
    },
    // The notifier may start before orders ever declared the stream; the declaration is idempotent.
    declareStream: () => ensureEventStreams(options.jsm, { stream: options.stream, subjectPrefix: options.subjectPrefix }),
    async onDeadLetter(msg, reason) {
      const event = decodeOrderEvent(options.subjectPrefix, msg.subject, msg.data);
      if ("eventId" in event) await options.store.markFailed(event.eventId, reason);
    },
  });
}

/** Decodes an order event by subject; anything undecodable or incomplete is poison. */
export function decodeOrderEvent(subjectPrefix: string, subject: string, data: Uint8Array): DecodedOrderEvent {
  let decoded: { kind: NotificationKind; eventId: string; order: Order | undefined; cancelReason: string };
  try {
    if (subject === `${subjectPrefix}.created`) {
      const e = fromBinary(OrderCreatedSchema, data);
      decoded = { kind: "created", eventId: e.eventId, order: e.order, cancelReason: "" };
    } else if (subject === `${subjectPrefix}.cancelled`) {
      const e = fromBinary(OrderCancelledSchema, data);
      decoded = { kind: "cancelled", eventId: e.eventId, order: e.order, cancelReason: e.reason };
    } else {
      return { ignore: `no email for ${subject}` };
    }
  } catch (err) {
    return { poison: `undecodable payload on ${subject}: ${err instanceof Error ? err.message : String(err)}` };
  }
  if (!isUuid(decoded.eventId)) return { poison: `event_id "${decoded.eventId}" is not a UUID` };
  if (!decoded.order || !isUuid(decoded.order.id)) return { poison: "event carries no order with a UUID id" };
  if (!decoded.order.customerEmail.includes("@")) return { poison: `order ${decoded.order.id} has no customer email` };
  return { kind: decoded.kind, eventId: decoded.eventId.toLowerCase(), order: decoded.order, cancelReason: decoded.cancelReason };
}
