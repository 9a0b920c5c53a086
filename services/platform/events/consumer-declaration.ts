import { AckPolicy, DeliverPolicy, type JetStreamManager } from "@nats-io/jetstream";
import { nanos } from "@nats-io/transport-node";
import { isConsumerNotFound } from "./jetstream-errors.js";

/** What a durable pull consumer is declared with. */
export interface ConsumerDeclaration {
  stream: string;
  /** Durable name; replicas sharing it share the work. */
  durable: string;
  /** One subject filter (NATS 2.9 has no multi-filter consumers). */
  filterSubject: string;
  /** How long JetStream waits for an ack before redelivering; must exceed the handler's own deadline. */
  ackWaitMs: number;
  /**
   * Deliveries in total, the first included; a retry asked for on the last one dead-letters the
   * message. -1: no limit (JetStream's own), for work that must wait out any outage.
   */
  maxDeliver: number;
  /** Unacked messages in flight across all replicas. Default 1000. */
  maxAckPending?: number;
}

/**
 * Declares the durable pull consumer with explicit acks: adds it when missing, updates the settings
 * that may change (ack wait, max deliver, max ack pending) when they differ; safe on every start.
 * A missing stream is the caller's to declare (the error comes through).
 */
export async function declareDurableConsumer(jsm: JetStreamManager, declaration: ConsumerDeclaration): Promise<void> {
  const changeable = {
    ack_wait: nanos(declaration.ackWaitMs),
    max_deliver: declaration.maxDeliver,
    max_ack_pending: declaration.maxAckPending ?? 1000,
  };
  const existing = await jsm.consumers.info(declaration.stream, declaration.durable).catch((err: unknown) => {
    if (isConsumerNotFound(err)) return undefined;
    throw err;
  });
  if (existing) {
    const c = existing.config;
    if (c.ack_wait !== changeable.ack_wait || c.max_deliver !== changeable.max_deliver || c.max_ack_pending !== changeable.max_ack_pending) {
      await jsm.consumers.update(declaration.stream, declaration.durable, changeable);
    }
    return;
  }
  await jsm.consumers.add(declaration.stream, {
    durable_name: declaration.durable,
    ack_policy: AckPolicy.Explicit,
    deliver_policy: DeliverPolicy.All,
    filter_subject: declaration.filterSubject,
    ...changeable,
  });
}
