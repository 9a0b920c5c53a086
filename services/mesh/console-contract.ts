// The JSON the operator console's API (console-api.ts) answers and its page (web/src/console*.ts)
// reads: one definition for both sides, free of Node imports so the page's bundle can use it.

/** An outbox of one event family as its service's /metrics reports it. */
export interface OutboxNumbers {
  family: string;
  backlog: number;
  oldestAgeSeconds: number;
  failed: number;
}

/** A durable consumer: JetStream's view (pending...) and what its process settled (handled...). */
export interface ConsumerNumbers {
  stream: string;
  consumer: string;
  pending?: number | undefined;
  ackPending?: number | undefined;
  redelivered?: number | undefined;
  handled: number;
  retried: number;
  deadLettered: number;
}

/** A circuit breaker in front of an upstream. */
export interface BreakerNumbers {
  upstream: string;
  state: "closed" | "half-open" | "open";
}

/** What the console shows of one service, read from its /metrics. */
export interface ServiceNumbers {
  serving: boolean | undefined;
  outbox: OutboxNumbers[];
  consumers: ConsumerNumbers[];
  breakers: BreakerNumbers[];
  rssBytes: number | undefined;
  eventLoopLagSeconds: number | undefined;
}

/** One row of GET /console/api/services. */
export interface PartStatus {
  name: string;
  kind: "service" | "dependency";
  addresses: Record<string, string>;
  /** SERVING / NOT_SERVING for services, UP for dependencies, or "error: ...". */
  health: string;
  numbers?: ServiceNumbers | undefined;
  numbersError?: string | undefined;
}

/** GET /console/api/services. */
export interface ServicesAnswer {
  services: PartStatus[];
}

/** A dead letter as admin.v1.DeadLetter's protobuf JSON (uint64 as a string). */
export interface DeadLetterJson {
  stream: string;
  sequence: string;
  consumer: string;
  reason: string;
  originalSubject: string;
  originalStream: string;
  deliveryCount: number;
  eventId: string;
  eventType: string;
  deadLetteredAt?: string;
}

/** GET /console/api/dead-letters (ListDeadLettersResponse). */
export interface DeadLettersAnswer {
  deadLetters: DeadLetterJson[];
  nextPageToken: string;
}

/** GET /console/api/dead-letters/<stream>/<sequence> (GetDeadLetterResponse). */
export interface DeadLetterDetailAnswer {
  deadLetter: DeadLetterJson;
  headers: { name: string; value: string }[];
  payloadJson: string;
  payloadError: string;
  payloadBytes: number;
}

/** POST /console/api/dead-letters/redrive and /discard. */
export interface DeadLetterActionAnswer {
  redriven?: { stream: string; sequence: string }[];
  discarded?: { stream: string; sequence: string }[];
  remaining: number;
}

/** An outbox row its relay gave up on (admin.v1.FailedOutboxEvent's JSON). */
export interface FailedOutboxEventJson {
  id: string;
  aggregateId: string;
  eventType: string;
  attempts: number;
  lastError: string;
  createTime?: string;
  failTime?: string;
}

/** GET /console/api/outbox/<service>/failed. */
export interface FailedOutboxAnswer {
  events: FailedOutboxEventJson[];
  nextPageToken: string;
}

/** A kept trace in a list. */
export interface TraceSummaryJson {
  traceId: string;
  rootName: string;
  services: string[];
  spanCount: number;
  startMs: number;
  durationMs: number;
}

/** GET /console/api/traces: newest first. */
export interface TracesAnswer {
  tracing: "receiver" | "external" | "off";
  traces: TraceSummaryJson[];
}

/** One span of a kept trace. */
export interface SpanJson {
  traceId: string;
  spanId: string;
  parentSpanId?: string | undefined;
  name: string;
  kind: string;
  service: string;
  startMs: number;
  durationMs: number;
  attributes: Record<string, unknown>;
  links: { traceId: string; spanId: string; attributes?: Record<string, unknown> }[];
  status: { code: string; message?: string | undefined };
}

/** GET /console/api/traces/<trace id>. */
export interface TraceAnswer {
  traceId: string;
  spans: SpanJson[];
}

/** Every error answer of the console API. */
export interface ErrorAnswer {
  error: string;
  /** The AdminService's gRPC code name when it answered the error, e.g. NOT_FOUND. */
  code?: string;
}
