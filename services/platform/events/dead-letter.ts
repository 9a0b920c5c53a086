import type { JetStreamClient, JsMsg } from "@nats-io/jetstream";
import { headers } from "@nats-io/transport-node";

/** Headers a dead letter carries beside the original message's own (CloudEvents and all). */
export const DeadLetterHeader = {
  reason: "x-deadletter-reason",
  originalSubject: "x-original-subject",
  originalStream: "x-original-stream",
  deliveryCount: "x-delivery-count",
} as const;

/**
 * Publishes a copy of msg to the dead-letter subject with why and where it came from; rejects when
 * JetStream did not store it (the caller must then keep the original, or the message is lost).
 */
export async function publishDeadLetter(js: JetStreamClient, subject: string, durable: string, msg: JsMsg, reason: string): Promise<void> {
  const h = headers();
  for (const [key, values] of msg.headers ?? []) values.forEach((v) => h.append(key, v));
  h.set(DeadLetterHeader.reason, reason);
  h.set(DeadLetterHeader.originalSubject, msg.subject);
  h.set(DeadLetterHeader.originalStream, msg.info.stream);
  h.set(DeadLetterHeader.deliveryCount, String(msg.info.deliveryCount));
  // One id per (consumer, original message): a repeat by this consumer is dropped as a duplicate, while
  // the copy of another consumer that gave up on the same message is kept.
  h.set("Nats-Msg-Id", `${durable}:${msg.info.stream}:${msg.info.streamSequence}`);
  await js.publish(subject, msg.data, { headers: h });
}
