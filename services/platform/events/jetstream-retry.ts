import { setTimeout as sleep } from "node:timers/promises";
import { exponentialBackoff } from "../process/backoff.js";
import type { Logger } from "../process/logger.js";
import { isJetStreamApiError, isNatsUnavailable } from "./jetstream-errors.js";

/** JSClusterNotAvailErr: "JetStream system temporarily unavailable" (a cluster electing its leaders). */
const clusterNotAvailable = 10008;

/** Whether err says NATS or JetStream is away for now (try again), rather than answering no. */
export function isJetStreamTransient(err: unknown): boolean {
  return isNatsUnavailable(err) || isJetStreamApiError(err, clusterNotAvailable);
}

/**
 * Runs a JetStream set-up step (a manager, a stream or consumer declaration) until it succeeds, waiting
 * with backoff while NATS or JetStream is away: a node restarting or a cluster electing its leaders
 * must not stop a process that is starting. Any other error (an answer, e.g. a bad configuration) is
 * thrown at once. A signal that aborts ends the waiting with its reason.
 */
export async function untilJetStreamAnswers<T>(what: string, step: () => Promise<T>, logger: Logger, signal?: AbortSignal): Promise<T> {
  const backoff = exponentialBackoff({ initialMs: 250, maxMs: 5_000 });
  for (let attempt = 1; ; attempt++) {
    try {
      return await step();
    } catch (err) {
      if (!isJetStreamTransient(err) || signal?.aborted) throw err;
      const retryInMs = backoff(attempt);
      logger.warn({ err: err instanceof Error ? err.message : String(err), retryInMs }, `${what}: JetStream is not answering; will retry`);
      await sleep(retryInMs, undefined, { signal });
    }
  }
}
