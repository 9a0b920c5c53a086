// Public surface of platform/events: Events on NATS JetStream: connections, streams, CloudEvents envelopes and durable consumers.
export { cloudEventHeaders, publishEvent } from "./cloudevents.js";
export { startDurableConsumer } from "./durable-consumer.js";
export type { DurableConsumerOptions } from "./durable-consumer.js";
export type { DurableConsumer } from "./consumer-loop.js";
export type { HandleResult } from "./message-settlement.js";
export { startEventConsumer } from "./event-consumer.js";
export type { BatchEventHandler, EventConsumerOptions, EventDelivery, EventKey, SingleEventHandler } from "./event-consumer.js";
export { DeadLetterHeader } from "./dead-letter.js";
export { deadLetterStreamName, deadLetterSubject, ensureEventStreams } from "./event-stream.js";
export type { EventStreamsOptions } from "./event-stream.js";
export { defaultEventStreamLimits, maxStreamReplicas, readStreamLimits } from "./stream-limits.js";
export type { EventStreamLimits, StreamLimits } from "./stream-limits.js";
export { checkNats, connectNats, isNatsConnected, readNatsUrl } from "./nats-connection.js";
export { startOutboxRelay } from "./outbox-relay.js";
export type { OutboxRelay, OutboxRelayOptions } from "./outbox-relay.js";
export type { NatsConnection } from "./nats-connection.js";
export { catalogue, decodeEvent, encodeEvent, eventFamilies, eventOfSubject, eventsOf, readEventFamilies, readEventFamily, subjectOf, typeOf } from "./catalogue.js";
export type { DecodedEvent, DecodeResult, EncodedEvent, EventDefinition, EventFamily, EventFamilyConfig } from "./catalogue.js";
export { startEventSide } from "./event-side.js";
export type { EventSide, EventSideOptions, Stoppable } from "./event-side.js";
export {
  createDeadLetterStore,
  DeadLetterNotFoundError,
  DeadLetterNotRedrivableError,
  maxDeadLettersPerCall,
  redriveMessageId,
  UnknownDeadLetterStreamError,
} from "./dead-letter-store.js";
export type { DeadLetterBatch, DeadLetterDetail, DeadLetterFilter, DeadLetterPage, DeadLetterRef, DeadLetterSelection, DeadLetterStore, DeadLetterStoreOptions, DeadLetterSummary } from "./dead-letter-store.js";
export { isNatsUnavailable } from "./jetstream-errors.js";
export { isJetStreamTransient, untilJetStreamAnswers } from "./jetstream-retry.js";
