// The JSON the operator console's API (console-api.ts) answers and its page (web/src/console*.ts)
// reads: one definition for both sides, free of Node imports so the page's bundle can use it.

import type { ReceivedSpan, TraceSummary } from "./trace-model.js";

/** An outbox of one event family as its service's /metrics reports it. */
export interface OutboxNumbers {
  /** The event family (orders, shipping). */
  family: string;
  /** Rows not yet published (failed ones not counted). */
  backlog: number;
  /** Age of the oldest of them; 0 when there is none. */
  oldestAgeSeconds: number;
  /** Rows the relay gave up on. */
  failed: number;
}

/** A durable consumer: JetStream's view (pending...) and what its process settled (handled...). */
export interface ConsumerNumbers {
  /** The stream it reads, e.g. ORDERS. */
  stream: string;
  /** The durable's name, e.g. notifier. */
  consumer: string;
  /** Messages not delivered yet (JetStream's num_pending); absent until JetStream answered. */
  pending?: number | undefined;
  /** Delivered and not yet acknowledged. */
  ackPending?: number | undefined;
  /** Delivered more than once and still unacknowledged. */
  redelivered?: number | undefined;
  /** Acked by this process since it started. */
  handled: number;
  /** Nak'ed for a retry by this process. */
  retried: number;
  /** Moved to the dead-letter stream by this process. */
  deadLettered: number;
}

/** A circuit breaker in front of an upstream. */
export interface BreakerNumbers {
  /** The upstream it guards, e.g. shipping. */
  upstream: string;
  /** Its state; isolated counts as open. */
  state: "closed" | "half-open" | "open";
}

/** What the console shows of one service, read from its /metrics. */
export interface ServiceNumbers {
  /** ordermesh_health_serving; undefined when not exported. */
  serving: boolean | undefined;
  /** One per event family the service publishes. */
  outbox: OutboxNumbers[];
  /** One per durable consumer the service runs. */
  consumers: ConsumerNumbers[];
  /** One per upstream with a breaker. */
  breakers: BreakerNumbers[];
  /** Resident memory of the process. */
  rssBytes: number | undefined;
  /** Event-loop lag as prom-client measures it. */
  eventLoopLagSeconds: number | undefined;
}

/** One row of GET /console/api/services. */
export interface PartStatus {
  /** orders, shipping, notifier (shipping-1, shipping-2... per replica), nats (nats-0... per cluster node), postgres. */
  name: string;
  /** An ordermesh service, or PostgreSQL / NATS. */
  kind: "service" | "dependency";
  /** Where it listens, by role (grpc, web, metrics, client, server). */
  addresses: Record<string, string>;
  /** SERVING / NOT_SERVING for services, UP for dependencies, or "error: ...". */
  health: string;
  /** Read from its /metrics; absent for dependencies and when the read failed. */
  numbers?: ServiceNumbers | undefined;
  /** Why its /metrics could not be read. */
  numbersError?: string | undefined;
}

/** GET /console/api/services. */
export interface ServicesAnswer {
  /** In start order. */
  services: PartStatus[];
}

/** A dead letter as admin.v1.DeadLetter's protobuf JSON (uint64 as a string). */
export interface DeadLetterJson {
  /** The dead-letter stream, e.g. ORDERS_DEADLETTER. */
  stream: string;
  /** Its sequence there (uint64 as text). */
  sequence: string;
  /** The durable consumer that gave up on it. */
  consumer: string;
  /** Why it gave up. */
  reason: string;
  /** Where a redrive sends it. */
  originalSubject: string;
  /** The stream it was first stored in. */
  originalStream: string;
  /** Deliveries before it was dead-lettered. */
  deliveryCount: number;
  /** ce-id, "" when none. */
  eventId: string;
  /** ce-type, "" when none. */
  eventType: string;
  /** RFC 3339. */
  deadLetteredAt?: string;
}

/** GET /console/api/dead-letters (ListDeadLettersResponse). */
export interface DeadLettersAnswer {
  /** Oldest first. */
  deadLetters: DeadLetterJson[];
  /** Pass back as page_token; "" on the last page. */
  nextPageToken: string;
}

/** GET /console/api/dead-letters/<stream>/<sequence> (GetDeadLetterResponse). */
export interface DeadLetterDetailAnswer {
  /** The dead letter. */
  deadLetter: DeadLetterJson;
  /** Every header in order, the original message's and the dead-letter ones. */
  headers: { name: string; value: string }[];
  /** The payload as protobuf JSON; "" when it could not be decoded. */
  payloadJson: string;
  /** Why it could not be decoded; "" when it could. */
  payloadError: string;
  /** The payload's size. */
  payloadBytes: number;
}

/** POST /console/api/dead-letters/redrive and /discard. */
export interface DeadLetterActionAnswer {
  /** What a redrive published again and removed. */
  redriven?: { stream: string; sequence: string }[];
  /** What a discard removed. */
  discarded?: { stream: string; sequence: string }[];
  /** How many of the selection this call left (at most 1000 per call). */
  remaining: number;
}

/** An outbox row its relay gave up on (admin.v1.FailedOutboxEvent's JSON). */
export interface FailedOutboxEventJson {
  /** The event id. */
  id: string;
  /** The order it is about. */
  aggregateId: string;
  /** ce-type. */
  eventType: string;
  /** Failed publishes. */
  attempts: number;
  /** The last publish error. */
  lastError: string;
  /** RFC 3339: when the event was written. */
  createTime?: string;
  /** RFC 3339: when the relay gave up. */
  failTime?: string;
}

/** GET /console/api/outbox/<service>/failed. */
export interface FailedOutboxAnswer {
  /** Oldest first. */
  events: FailedOutboxEventJson[];
  /** Pass back as page_token; "" on the last page. */
  nextPageToken: string;
}

/** A kept trace in a list: the receiver's summary as it is. */
export type TraceSummaryJson = TraceSummary;

/** GET /console/api/traces: newest first. */
export interface TracesAnswer {
  /** Whether the launcher keeps traces (receiver) or the services export elsewhere or not at all. */
  tracing: "receiver" | "external" | "off";
  /** Newest first, at most `limit`. */
  traces: TraceSummaryJson[];
}

/** One span of a kept trace: the receiver's span as it is. */
export type SpanJson = ReceivedSpan;

/** GET /console/api/traces/<trace id>. */
export interface TraceAnswer {
  /** The trace asked for. */
  traceId: string;
  /** In start order. */
  spans: SpanJson[];
}

/** Every error answer of the console API. */
export interface ErrorAnswer {
  /** What went wrong, for a person. */
  error: string;
  /** The AdminService's gRPC code name when it answered the error, e.g. NOT_FOUND. */
  code?: string;
}
