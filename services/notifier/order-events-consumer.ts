import type { JetStreamClient, JetStreamManager } from "@nats-io/jetstream";
import { bulkhead } from "cockatiel";
import { ensureEventStreams, startEventConsumer, type DurableConsumer, type EventDelivery, type EventStreamLimits, type HandleResult } from "../platform/events/index.js";
import type { Logger } from "../platform/process/index.js";
import { runInContext, type Context } from "../platform/telemetry/index.js";
import { isUuid } from "../platform/validation/index.js";
import type { NotificationKind } from "./db/schema.js";
import { eventMessageId, type Mailer } from "./mailer.js";
import type { NotificationClaim, NotificationStore } from "./notification-store.js";
import { buildOrderEmail, type OrderEmail } from "./order-email.js";

/** Everything the notifier's consumer needs. */
export interface OrderEventsConsumerOptions {
  js: JetStreamClient;
  jsm: JetStreamManager;
  stream: string;
  subjectPrefix: string;
  store: NotificationStore;
  mailer: Mailer;
  logger: Logger;
  /** Longer than the mailer's send deadline plus a second, so a slow send is never redelivered while it runs. */
  ackWaitMs: number;
  /** The mailer's deadline of one send; a batch starts no send that could end after its AckWait. */
  sendTimeoutMs: number;
  maxDeliver: number;
  /** Durable name; "notifier" in production. */
  durable?: string;
  /** Backoff of failed sends. Default 2 s doubling up to 60 s. */
  retryBackoff?: { initialMs: number; maxMs: number };
  /** Emails sent at the same time (the SMTP pool's connections). Default 1. */
  concurrency?: number;
  /** Events claimed in one transaction at most. Default 64. */
  batchSize?: number;
  /** Batches of this replica in flight (one sending while the next is claimed); each holds a pooled connection. Default 2. */
  batchesInFlight?: number;
  /** Retention of the streams, which the notifier declares too (it may start before orders). */
  streamLimits?: EventStreamLimits;
}

/** The order events that each announce a milestone by email, and the notification kind each records. */
const milestoneOf = {
  orderCreated: "created",
  orderShipped: "shipped",
  orderDelivered: "delivered",
  orderCancelled: "cancelled",
} as const satisfies Record<string, NotificationKind>;

type MilestoneEvent = keyof typeof milestoneOf;

/** The email an event asks for, or why it can never be sent. */
export type Notification = { claim: NotificationClaim; email: OrderEmail } | { poison: string };

/**
 * Starts the durable consumer `notifier` on `${prefix}.>`: one email per milestone event (created,
 * shipped, delivered, cancelled) and none for the others. Events are handled in batches: one
 * statement claims a batch, the emails go out (at most `concurrency` at once), one statement marks
 * them, and the acks leave together; one order's events still go one after another.
 */
export async function startOrderEventsConsumer(options: OrderEventsConsumerOptions): Promise<DurableConsumer> {
  const durable = options.durable ?? "notifier";
  const log = options.logger.child({ consumer: durable });
  const batchSize = options.batchSize ?? 64;
  const concurrency = options.concurrency ?? 1;
  const batchesInFlight = options.batchesInFlight ?? 2;
  // Every email a replica's batches may hold can wait for a sending slot; none is ever refused.
  const sending = bulkhead(concurrency, batchesInFlight * batchSize);
  // A send must end before the batch's AckWait would redeliver it: sends start within the first half of
  // the slack AckWait leaves beyond one send (the rest covers claim, marking, commit and acks); the
  // ones whose turn comes later are left for a retry.
  const sendWindowMs = Math.max(0, (options.ackWaitMs - options.sendTimeoutMs) / 2);

  const handleBatch = async (deliveries: EventDelivery<MilestoneEvent>[]): Promise<HandleResult[]> => {
    const results: HandleResult[] = [];
    const wanted: Array<{ index: number; claim: NotificationClaim; email: OrderEmail }> = [];
    deliveries.forEach(({ event }, index) => {
      const notification = notificationOf(event);
      if ("poison" in notification) results[index] = { deadLetter: notification.poison };
      else wanted.push({ index, ...notification });
    });
    const emails = new Map(wanted.map((w) => [w.claim.eventId, w.email]));
    // Each email is sent in its own message's span, so the SMTP span sits in that order's trace.
    const traces = new Map<string, Context | undefined>(wanted.map((w) => [w.claim.eventId, deliveries[w.index]!.trace]));
    const latestStart = Date.now() + sendWindowMs;
    const outcomes = await options.store.sendBatch(
      wanted.map((w) => w.claim),
      (claim) =>
        sending.execute(() => {
          if (Date.now() > latestStart) throw new Error("not sent: its batch ran out of time before the email's turn");
          return runInContext(traces.get(claim.eventId), () => options.mailer.send({ to: claim.recipient, ...emails.get(claim.eventId)!, messageId: eventMessageId(claim.eventId) }));
        }),
    );
    outcomes.forEach((outcome, i) => {
      const { index, claim } = wanted[i]!;
      const fields = { eventId: claim.eventId, orderId: claim.orderId, kind: claim.kind, delivery: deliveries[index]!.msg.info.deliveryCount };
      if (outcome.kind === "failed") {
        log.warn({ ...fields, err: outcome.error }, "email not sent; will retry");
        results[index] = { retry: outcome.error instanceof Error ? outcome.error.message : String(outcome.error) };
        return;
      }
      log.info({ ...fields, outcome: outcome.kind, attempts: outcome.row.attempts }, outcome.kind === "sent" ? "email sent" : "email already sent; skipped");
      results[index] = { ack: true };
    });
    return results;
  };

  return startEventConsumer({
    js: options.js,
    jsm: options.jsm,
    logger: options.logger,
    family: "orders",
    subjectPrefix: options.subjectPrefix,
    stream: options.stream,
    durable,
    // orderUpdated and orderCancellationRequested announce no milestone: acked without an email.
    events: Object.keys(milestoneOf) as MilestoneEvent[],
    ackWaitMs: options.ackWaitMs,
    maxDeliver: options.maxDeliver,
    retryBackoff: options.retryBackoff ?? { initialMs: 2000, maxMs: 60_000 },
    maxBatch: batchSize,
    concurrency: batchesInFlight,
    handleBatch,
    // The notifier may start before orders ever declared the stream; the declaration is idempotent.
    declareStream: () => ensureEventStreams(options.jsm, { stream: options.stream, subjectPrefix: options.subjectPrefix, limits: options.streamLimits }),
    async onDeadLetter({ event }, reason) {
      if (event && isUuid(event.event.eventId)) await options.store.markFailed(event.event.eventId.toLowerCase(), reason);
    },
  });
}

/**
 * The email a milestone event asks for. Poison (dead-lettered, never sent) is what the notifier's
 * database or an email cannot take: an event id or order id that is not a UUID, no customer email.
 */
export function notificationOf(decoded: EventDelivery<MilestoneEvent>["event"]): Notification {
  const { eventId, order } = decoded.event;
  if (!isUuid(eventId)) return { poison: `event_id "${eventId}" is not a UUID` };
  if (!order || !isUuid(order.id)) return { poison: "event carries no order with a UUID id" };
  if (!order.customerEmail.includes("@")) return { poison: `order ${order.id} has no customer email` };
  const kind = milestoneOf[decoded.key];
  const email = buildOrderEmail(kind, order, { cancelReason: decoded.key === "orderCancelled" ? decoded.event.reason : "" });
  return { claim: { eventId: eventId.toLowerCase(), orderId: order.id, kind, recipient: order.customerEmail, subject: email.subject }, email };
}
