import {
  ATTR_MESSAGING_BATCH_MESSAGE_COUNT,
  ATTR_MESSAGING_CONSUMER_GROUP_NAME,
  ATTR_MESSAGING_DESTINATION_NAME,
  ATTR_MESSAGING_MESSAGE_ID,
  ATTR_MESSAGING_OPERATION_NAME,
  ATTR_MESSAGING_OPERATION_TYPE,
  ATTR_MESSAGING_SYSTEM,
  MESSAGING_OPERATION_TYPE_VALUE_PROCESS,
  MESSAGING_OPERATION_TYPE_VALUE_SEND,
} from "@opentelemetry/semantic-conventions/incubating";
import type { JsMsg } from "@nats-io/jetstream";
import { Match } from "@nats-io/transport-node";
import {
  contextFromHeaders,
  contextWith,
  endWithError,
  linkTo,
  runInContext,
  SpanKind,
  SpanStatusCode,
  startSpan,
  type Attributes,
  type Context,
  type Link,
  type Span,
} from "../telemetry/index.js";
import type { HandleResult } from "./message-settlement.js";

/** The order an event is about, on every messaging span, so an order's spans can be found by it. */
export const orderIdAttribute = "ordermesh.order.id";

/** What the handler decided about the message (ack, retry, dead_letter), on its CONSUMER span. */
export const consumerOutcomeAttribute = "ordermesh.consumer.outcome";

// The messaging conventions name no value for NATS; their rule for others is the system's own lower-case name.
const messagingSystem = "nats";

/** The messaging attributes of a PRODUCER ("send") or CONSUMER ("process") span on a subject. */
export function messagingAttributes(operation: "send" | "process", subject: string): Attributes {
  return {
    [ATTR_MESSAGING_SYSTEM]: messagingSystem,
    [ATTR_MESSAGING_OPERATION_TYPE]: operation === "send" ? MESSAGING_OPERATION_TYPE_VALUE_SEND : MESSAGING_OPERATION_TYPE_VALUE_PROCESS,
    // JetStream's own word for the call that sends: publish.
    [ATTR_MESSAGING_OPERATION_NAME]: operation === "send" ? "publish" : "process",
    [ATTR_MESSAGING_DESTINATION_NAME]: subject,
  };
}

/** One message on its way through a handler, as consumer spans see it. */
export interface TracedMessage {
  msg: JsMsg;
  /** ce-id of the event. */
  eventId: string;
  orderId: string;
}

/**
 * Runs a consumer's handler over messages inside their spans, following the messaging conventions:
 * each message gets a CONSUMER span "process <subject>" whose parent is its producer's span (the
 * message's traceparent), so every order keeps one whole trace; the handler sees it as `contexts[i]`.
 * A batch handler's shared work (one claim, one CreateShipments for all) runs under one more span,
 * "<durable> batch", parented to the first message's span and linked to every message's producer
 * span: one call cannot sit in several traces, so the other messages' traces reach it by link. A
 * single-message handler runs inside its message's span. While not tracing, the handler runs alone.
 */
export async function handleInSpans<T extends TracedMessage>(
  messages: T[],
  batch: boolean,
  durable: string,
  handle: (messages: T[], contexts: Array<Context | undefined>) => Promise<HandleResult[]>,
): Promise<HandleResult[]> {
  const traced = messages.map((m) => {
    const parent = contextFromHeaders({ get: (name) => m.msg.headers?.get(name, Match.IgnoreCase) });
    if (!parent) return undefined;
    const span = startSpan(`process ${m.msg.subject}`, {
      kind: SpanKind.CONSUMER,
      parent,
      attributes: {
        ...messagingAttributes("process", m.msg.subject),
        [ATTR_MESSAGING_CONSUMER_GROUP_NAME]: durable,
        [ATTR_MESSAGING_MESSAGE_ID]: m.eventId,
        [orderIdAttribute]: m.orderId,
        "messaging.nats.delivery_count": m.msg.info.deliveryCount,
      },
    })!;
    return { span, parent, context: contextWith(span, parent)! };
  });
  const first = traced[0];
  if (!first) return handle(messages, messages.map(() => undefined));
  const contexts = traced.map((t) => t?.context);
  let batchSpan: Span | undefined;
  let results: HandleResult[];
  try {
    if (batch) {
      batchSpan = startSpan(`${durable} batch`, {
        parent: first.context,
        links: traced.map((t) => linkTo(t?.parent)).filter((link): link is Link => link !== undefined),
        attributes: { [ATTR_MESSAGING_BATCH_MESSAGE_COUNT]: messages.length, [ATTR_MESSAGING_CONSUMER_GROUP_NAME]: durable },
      });
    }
    results = await runInContext(batchSpan ? contextWith(batchSpan, first.context) : first.context, () => handle(messages, contexts));
  } catch (err) {
    if (batchSpan) endWithError(batchSpan, err);
    for (const t of traced) if (t) endWithError(t.span, err);
    throw err;
  }
  batchSpan?.end();
  traced.forEach((t, i) => {
    if (!t) return;
    const result = results[i];
    const outcome = !result ? "retry" : "ack" in result ? "ack" : "deadLetter" in result ? "dead_letter" : "retry";
    t.span.setAttribute(consumerOutcomeAttribute, outcome);
    if (result && outcome !== "ack") {
      t.span.setStatus({ code: SpanStatusCode.ERROR, message: "deadLetter" in result ? result.deadLetter : "retry" in result ? result.retry : "reason" in result ? result.reason : "" });
    }
    t.span.end();
  });
  return results;
}
