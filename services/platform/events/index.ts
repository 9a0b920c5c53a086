// Public surface of platform/events: Events on NATS JetStream: connections, streams, CloudEvents envelopes and durable consumers.
export { cloudEventHeaders, publishEvent } from "./cloudevents.js";
export { backoffMs, startDurableConsumer } from "./durable-consumer.js";
export type { DurableConsumer, HandleResult } from "./durable-consumer.js";
export { deadLetterStreamName, deadLetterSubject, ensureEventStreams } from "./event-stream.js";
export { checkNats, connectNats, isNatsConnected } from "./nats-connection.js";
export { startOutboxRelay } from "./outbox-relay.js";
export type { OutboxRelay, OutboxRelayOptions } from "./outbox-relay.js";
export type { NatsConnection } from "./nats-connection.js";
export { catalogue, decodeEvent, encodeEvent, eventFamilies, eventsOf, readEventFamily, subjectOf, typeOf } from "./catalogue.js";
export type { DecodedEvent, DecodeResult, EncodedEvent, EventDefinition, EventFamily, EventFamilyConfig } from "./catalogue.js";
