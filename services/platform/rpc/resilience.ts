import { Code, ConnectError } from "@connectrpc/connect";
import {
  BrokenCircuitError,
  ConsecutiveBreaker,
  ExponentialBackoff,
  TaskCancelledError,
  TimeoutStrategy,
  circuitBreaker,
  handleWhen,
  retry,
  timeout,
  wrap,
  type CircuitBreakerPolicy,
} from "cockatiel";
import { reportBreakerState } from "../metrics/breaker-metrics.js";
import type { Logger } from "../process/logger.js";

/**
 * Status codes after which the same call may succeed when repeated later. Every other code (NOT_FOUND,
 * PERMISSION_DENIED, UNIMPLEMENTED, INVALID_ARGUMENT...) is the upstream's answer about the request itself,
 * which no repetition changes: callers give up on it at once. Only idempotent calls may be repeated at all.
 */
export const retryableCodes = [
  Code.Unavailable,
  Code.DeadlineExceeded,
  Code.ResourceExhausted,
  Code.Aborted,
  // None of these three is a verdict on the request. UNKNOWN is what ConnectError.from makes of any non-RPC
  // error (our own database failing after the call) and how a proxy's bare HTTP error arrives; INTERNAL is
  // also how grpc-js reports a stream reset by a restarting peer; CANCELED is what a server that shuts down
  // answers to the calls it cuts. A real bug behind them costs bounded retries (max_deliver with backoff),
  // while giving up on a passing glitch strands the work for an operator.
  Code.Unknown,
  Code.Internal,
  Code.Canceled,
] as const;

/** A status code worth another attempt (see retryableCodes). */
export type RetryableCode = (typeof retryableCodes)[number];

/** Whether a call that failed with this code may succeed when repeated later. */
export function isRetryableCode(code: Code): code is RetryableCode {
  return (retryableCodes as readonly Code[]).includes(code);
}

/** Tuning of one upstream's policy. */
export interface UpstreamPolicyOptions {
  /** Upstream name for logs, e.g. "shipping". */
  name: string;
  logger: Logger;
  /** Deadline of a single attempt; also sent to the server as grpc-timeout. */
  attemptTimeoutMs: number;
  /** Attempts in total, the first included. */
  maxAttempts: number;
  /** Codes worth another attempt within this call, a subset of retryableCodes; everything else fails at once. */
  retryOn: readonly RetryableCode[];
  initialBackoffMs?: number;
  maxBackoffMs?: number;
  /** Consecutive failed attempts that open the breaker. */
  breakerThreshold?: number;
  /** How long the breaker stays open before one trial call is let through. */
  halfOpenAfterMs?: number;
  /** A breaker shared with other policies of the same upstream (see createUpstreamBreaker). */
  breaker?: CircuitBreakerPolicy;
}

/** What a call through the policy receives for its one attempt. */
export interface AttemptOptions {
  signal: AbortSignal;
  timeoutMs: number;
}

/** One shared policy per upstream: per-attempt timeout, jittered exponential retry, circuit breaker. */
export interface UpstreamPolicy {
  /** Runs fn under the policy; failures come out as ConnectError (UNAVAILABLE when the breaker is open). */
  call<T>(fn: (attempt: AttemptOptions) => Promise<T>, signal?: AbortSignal): Promise<T>;
  /** The breaker, for health reporting and tests. */
  readonly breaker: CircuitBreakerPolicy;
}

/**
 * One circuit breaker for an upstream, to share between the policies of different call kinds (reads
 * that must answer fast, background dispatch that may wait) so that together they stop hammering it.
 */
export function createUpstreamBreaker(
  options: Pick<UpstreamPolicyOptions, "name" | "logger" | "retryOn" | "breakerThreshold" | "halfOpenAfterMs">,
): CircuitBreakerPolicy {
  const breaker = circuitBreaker(handleWhen((err) => isTransient(err, options.retryOn)), {
    halfOpenAfter: options.halfOpenAfterMs ?? 2000,
    breaker: new ConsecutiveBreaker(options.breakerThreshold ?? 5),
  });
  breaker.onBreak(() => options.logger.warn({ upstream: options.name }, "circuit opened"));
  breaker.onHalfOpen(() => options.logger.info({ upstream: options.name }, "circuit half-open"));
  breaker.onReset(() => options.logger.info({ upstream: options.name }, "circuit closed"));
  // A breaker lives as long as its process (one per upstream), so it is reported until the process ends.
  reportBreakerState(options.name, breaker);
  return breaker;
}

function isTransient(err: unknown, codes: readonly RetryableCode[]): boolean {
  return err instanceof TaskCancelledError || (err instanceof ConnectError && (codes as readonly Code[]).includes(err.code));
}

/** Builds the resilience policy for one upstream; create it once and share it across all calls. */
export function createUpstreamPolicy(options: UpstreamPolicyOptions): UpstreamPolicy {
  const breaker = options.breaker ?? createUpstreamBreaker(options);
  // A timed-out attempt is DEADLINE_EXCEEDED: retried only when that code is configured, so a hanging
  // upstream costs one attempt timeout, not maxAttempts of them (the breaker still counts it).
  const retryable = (err: unknown) =>
    err instanceof TaskCancelledError ? options.retryOn.includes(Code.DeadlineExceeded) : err instanceof ConnectError && (options.retryOn as readonly Code[]).includes(err.code);
  const retries = retry(handleWhen(retryable), {
    maxAttempts: options.maxAttempts - 1,
    // Decorrelated jitter (cockatiel's default generator) keeps retrying clients from moving in lockstep.
    backoff: new ExponentialBackoff({ initialDelay: options.initialBackoffMs ?? 50, maxDelay: options.maxBackoffMs ?? 1000 }),
  });
  const attemptTimeout = timeout(options.attemptTimeoutMs, TimeoutStrategy.Aggressive);
  const policy = wrap(retries, breaker, attemptTimeout);

  return {
    breaker,
    async call(fn, signal) {
      try {
        return await policy.execute(async ({ signal: attemptSignal }) => {
          try {
            return await fn({ signal: attemptSignal, timeoutMs: options.attemptTimeoutMs });
          } catch (err) {
            // A client honouring the attempt signal rejects with its own CANCELLED before cockatiel's timeout
            // does; that must still count as a timed-out attempt (breaker, DEADLINE_EXCEEDED), not a cancel.
            if (attemptSignal.aborted && !signal?.aborted) throw new TaskCancelledError(`${options.name}: attempt timed out`);
            throw err;
          }
        // Without a caller signal cockatiel links every call to one shared never-aborted signal; with
        // concurrent callers (dispatch runs 16 at once) that trips Node's MaxListeners warning. A fresh
        // signal per call keeps one listener each and is released with the call.
        }, signal ?? new AbortController().signal);
      } catch (err) {
        if (err instanceof BrokenCircuitError) {
          throw new ConnectError(`${options.name} unavailable: circuit open`, Code.Unavailable, undefined, undefined, err);
        }
        if (err instanceof TaskCancelledError) {
          const code = signal?.aborted ? Code.Canceled : Code.DeadlineExceeded;
          throw new ConnectError(`${options.name}: ${signal?.aborted ? "cancelled" : "attempt timed out"}`, code, undefined, undefined, err);
        }
        throw ConnectError.from(err);
      }
    },
  };
}
