import { Code, ConnectError } from "@connectrpc/connect";
import { CircuitState } from "cockatiel";
import { describe, expect, it } from "vitest";
import { testLogger } from "../../../tests/support/shipping-harness.js";
import { waitFor } from "../../../tests/support/wait-for.js";
import { createUpstreamPolicy, isRetryableCode, type AttemptOptions, type UpstreamPolicyOptions } from "./resilience.js";

function policy(overrides: Partial<UpstreamPolicyOptions> = {}) {
  return createUpstreamPolicy({
    name: "upstream",
    logger: testLogger,
    attemptTimeoutMs: 1000,
    maxAttempts: 1,
    retryOn: [Code.Unavailable],
    initialBackoffMs: 1,
    maxBackoffMs: 5,
    breakerThreshold: 3,
    halfOpenAfterMs: 100,
    ...overrides,
  });
}

/** An upstream call that fails with these codes in turn, then succeeds; counts its attempts. */
function upstream(...codes: Code[]) {
  const fn = async (attempt: AttemptOptions) => {
    fn.attempts.push(attempt);
    const code = codes[fn.attempts.length - 1];
    if (code !== undefined) throw new ConnectError("upstream says no", code);
    return "ok";
  };
  fn.attempts = [] as AttemptOptions[];
  return fn;
}

async function codeOf(call: Promise<unknown>): Promise<Code> {
  const err = await call.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ConnectError);
  return (err as ConnectError).code;
}

describe("retryable codes", () => {
  it("retry only what may succeed later and give up at once on every answer about the request", () => {
    const codes = Object.values(Code).filter((c): c is Code => typeof c === "number");
    const retryable = codes.filter(isRetryableCode).map((c) => Code[c]).sort();
    expect(retryable).toEqual(["Aborted", "Canceled", "DeadlineExceeded", "Internal", "ResourceExhausted", "Unavailable", "Unknown"]);
  });
});

describe("circuit breaker", () => {
  it("opens after threshold consecutive UNAVAILABLE and then fails fast with UNAVAILABLE without calling", async () => {
    const p = policy();
    const fn = upstream(Code.Unavailable, Code.Unavailable, Code.Unavailable);
    for (let i = 0; i < 3; i++) expect(await codeOf(p.call(fn))).toBe(Code.Unavailable);
    expect(p.breaker.state).toBe(CircuitState.Open);
    const started = performance.now();
    const err = await p.call(fn).catch((e: ConnectError) => e);
    expect(performance.now() - started).toBeLessThan(50);
    expect(err).toMatchObject({ code: Code.Unavailable });
    expect((err as ConnectError).rawMessage).toContain("circuit open");
    expect(fn.attempts).toHaveLength(3);
  });

  it("half-opens after the break, lets one trial call through and closes when it succeeds", async () => {
    const p = policy();
    const events: string[] = [];
    p.breaker.onHalfOpen(() => events.push("half-open"));
    p.breaker.onReset(() => events.push("closed"));
    const fn = upstream(Code.Unavailable, Code.Unavailable, Code.Unavailable);
    for (let i = 0; i < 3; i++) await codeOf(p.call(fn));
    // Calls keep failing fast until halfOpenAfterMs has passed; the first one after that is the trial.
    await waitFor(() => p.call(fn).then(() => true, () => false), { what: "trial call to succeed", timeoutMs: 2000 });
    expect(fn.attempts).toHaveLength(4);
    expect(events).toEqual(["half-open", "closed"]);
    expect(p.breaker.state).toBe(CircuitState.Closed);
  });

  it("opens again when the trial call fails", async () => {
    const p = policy();
    const fn = upstream(Code.Unavailable, Code.Unavailable, Code.Unavailable, Code.Unavailable);
    for (let i = 0; i < 3; i++) await codeOf(p.call(fn));
    await waitFor(() => p.breaker.state === CircuitState.Open && fn.attempts.length < 4 && p.call(fn).catch(() => fn.attempts.length === 4), {
      what: "trial call",
      timeoutMs: 2000,
    });
    expect(p.breaker.state).toBe(CircuitState.Open);
    expect(await codeOf(p.call(fn))).toBe(Code.Unavailable);
    expect(fn.attempts).toHaveLength(4);
  });

  it("counts only consecutive transient failures: a success resets the count, non-retryable codes are not failures", async () => {
    const p = policy();
    const flaky = upstream(Code.Unavailable, Code.Unavailable);
    expect(await codeOf(p.call(flaky))).toBe(Code.Unavailable);
    expect(await codeOf(p.call(flaky))).toBe(Code.Unavailable);
    expect(await p.call(flaky)).toBe("ok");
    const again = upstream(Code.Unavailable, Code.Unavailable);
    await codeOf(p.call(again));
    await codeOf(p.call(again));
    expect(p.breaker.state).toBe(CircuitState.Closed);
    // The upstream answering NOT_FOUND is alive: five of them in a row do not open the breaker.
    const notFound = upstream(...Array<Code>(5).fill(Code.NotFound));
    for (let i = 0; i < 5; i++) expect(await codeOf(p.call(notFound))).toBe(Code.NotFound);
    expect(p.breaker.state).toBe(CircuitState.Closed);
  });
});

describe("retries", () => {
  it("retries a configured code up to maxAttempts in total and then gives up with that code", async () => {
    const fn = upstream(Code.Unavailable, Code.Unavailable, Code.Unavailable, Code.Unavailable);
    expect(await codeOf(policy({ maxAttempts: 3, breakerThreshold: 100 }).call(fn))).toBe(Code.Unavailable);
    expect(fn.attempts).toHaveLength(3);
  });

  it("succeeds when a retry succeeds", async () => {
    const fn = upstream(Code.Unavailable, Code.Unavailable);
    expect(await policy({ maxAttempts: 3 }).call(fn)).toBe("ok");
    expect(fn.attempts).toHaveLength(3);
  });

  it.each([Code.NotFound, Code.InvalidArgument, Code.Internal, Code.FailedPrecondition])("does not retry code %s", async (code) => {
    const fn = upstream(code, code);
    expect(await codeOf(policy({ maxAttempts: 3 }).call(fn))).toBe(code);
    expect(fn.attempts).toHaveLength(1);
  });

  it("retries exactly the codes it is told to", async () => {
    const none = upstream(Code.Unavailable);
    expect(await codeOf(policy({ maxAttempts: 3, retryOn: [] }).call(none))).toBe(Code.Unavailable);
    expect(none.attempts).toHaveLength(1);
    const exhausted = upstream(Code.ResourceExhausted);
    expect(await policy({ maxAttempts: 3, retryOn: [Code.Unavailable, Code.ResourceExhausted] }).call(exhausted)).toBe("ok");
    expect(exhausted.attempts).toHaveLength(2);
  });
});

describe("attempt timeout", () => {
  /** An upstream that never answers; it resolves only when its attempt signal aborts. */
  function hanging() {
    const aborted: boolean[] = [];
    const fn = (attempt: AttemptOptions) => {
      aborted.push(false);
      const i = aborted.length - 1;
      return new Promise<never>((_, reject) =>
        attempt.signal.addEventListener("abort", () => {
          aborted[i] = true;
          reject(new ConnectError("aborted", Code.Canceled));
        }),
      );
    };
    return { fn, aborted };
  }

  it("gives DEADLINE_EXCEEDED, aborts the attempt's signal and passes the deadline to the call", async () => {
    const { fn, aborted } = hanging();
    let seenTimeout: number | undefined;
    const started = performance.now();
    const code = await codeOf(
      policy({ attemptTimeoutMs: 50 }).call((attempt) => {
        seenTimeout = attempt.timeoutMs;
        return fn(attempt);
      }),
    );
    expect(code).toBe(Code.DeadlineExceeded);
    expect(performance.now() - started).toBeLessThan(1000);
    expect(seenTimeout).toBe(50);
    await waitFor(() => aborted[0], { what: "attempt signal to abort" });
  });

  it("is not retried unless DEADLINE_EXCEEDED is a configured code, so a hanging upstream costs one attempt", async () => {
    const once = hanging();
    expect(await codeOf(policy({ attemptTimeoutMs: 30, maxAttempts: 3 }).call(once.fn))).toBe(Code.DeadlineExceeded);
    expect(once.aborted).toHaveLength(1);
    const retried = hanging();
    const p = policy({ attemptTimeoutMs: 30, maxAttempts: 3, retryOn: [Code.Unavailable, Code.DeadlineExceeded] });
    expect(await codeOf(p.call(retried.fn))).toBe(Code.DeadlineExceeded);
    expect(retried.aborted).toHaveLength(3);
  });

  it("counts timeouts towards the breaker", async () => {
    const p = policy({ attemptTimeoutMs: 20, breakerThreshold: 2 });
    for (let i = 0; i < 2; i++) await codeOf(p.call(hanging().fn));
    expect(p.breaker.state).toBe(CircuitState.Open);
  });

  it("gives CANCELLED without retrying when the caller aborts", async () => {
    const { fn, aborted } = hanging();
    const caller = new AbortController();
    const call = policy({ maxAttempts: 3 }).call(fn, caller.signal);
    await waitFor(() => aborted.length === 1, { what: "first attempt" });
    caller.abort();
    expect(await codeOf(call)).toBe(Code.Canceled);
    expect(aborted).toEqual([true]);
  });
});
