import { JetStreamApiCodes, JetStreamApiError } from "@nats-io/jetstream";

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
