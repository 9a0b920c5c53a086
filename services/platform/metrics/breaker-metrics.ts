import { CircuitState, type CircuitBreakerPolicy } from "cockatiel";
import { scrapedGauges } from "./scraped-gauges.js";

const breakerGauges = scrapedGauges(
  { state: { name: "ordermesh_circuit_breaker_state", help: "Circuit breaker of an upstream: 0 closed, 1 half-open, 2 open (isolated counts as open)." } },
  ["upstream"],
  0,
);

// cockatiel numbers its states Closed, Open, HalfOpen, Isolated; the gauge orders them by severity.
const stateValue: Record<CircuitState, number> = {
  [CircuitState.Closed]: 0,
  [CircuitState.HalfOpen]: 1,
  [CircuitState.Open]: 2,
  [CircuitState.Isolated]: 2,
};

/** Reports a breaker's state on every scrape; the returned function stops reporting it. */
export function reportBreakerState(upstream: string, breaker: CircuitBreakerPolicy): () => void {
  // Weakly held: a breaker nobody uses any more (a test's, a replaced client's) is not kept alive by its gauge.
  const ref = new WeakRef(breaker);
  const remove = breakerGauges.add({ upstream }, () => {
    const live = ref.deref();
    if (!live) {
      remove();
      throw new Error("breaker collected");
    }
    return { state: stateValue[live.state] };
  });
  return remove;
}
