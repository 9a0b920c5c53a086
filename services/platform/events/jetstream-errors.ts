import { JetStreamApiCodes, JetStreamApiError } from "@nats-io/jetstream";
import { errors } from "@nats-io/transport-node";

/**
 * JetStream API error codes nats.js does not name (see nats-server's server/errors.json). Matching
 * codes rather than message text keeps working when the server rewords a description.
 */
const moreApiCodes = {
  /** JSStreamNameExistErr: "stream name already in use with a different configuration". */
  StreamNameInUse: 10058,
} as const;

/** Whether err is the JetStream API's answer with this error code. */
export function isJetStreamApiError(err: unknown, code: number): err is JetStreamApiError {
  return err instanceof JetStreamApiError && err.code === code;
}

/** The consumer does not exist (deleted, or never declared). */
export function isConsumerNotFound(err: unknown): boolean {
  return isJetStreamApiError(err, JetStreamApiCodes.ConsumerNotFound);
}

/** The stream does not exist. */
export function isStreamNotFound(err: unknown): boolean {
  return isJetStreamApiError(err, JetStreamApiCodes.StreamNotFound);
}

/** A stream of that name exists already (another replica declared it first). */
export function isStreamNameInUse(err: unknown): boolean {
  return isJetStreamApiError(err, moreApiCodes.StreamNameInUse);
}

/** No message at that sequence (deleted, expired, or never written). */
export function isNoMessageFound(err: unknown): boolean {
  return isJetStreamApiError(err, JetStreamApiCodes.NoMessageFound);
}

/**
 * NATS or JetStream cannot be reached right now: the request timed out (nats.js keeps requests while
 * it reconnects, then times them out), nobody answers the JetStream API, or the connection is closed.
 * A caller may retry later (gRPC UNAVAILABLE), unlike an API error, which is an answer.
 */
export function isNatsUnavailable(err: unknown): boolean {
  return (
    err instanceof errors.TimeoutError ||
    err instanceof errors.NoRespondersError ||
    err instanceof errors.ClosedConnectionError ||
    err instanceof errors.ConnectionError ||
    err instanceof errors.RequestError ||
    err instanceof errors.DrainingConnectionError
  );
}
