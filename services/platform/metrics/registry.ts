import { collectDefaultMetrics, Registry } from "prom-client";

/**
 * The process's one metrics registry: every platform metric registers here, and GET /metrics serves it.
 * Module state on purpose: a process has one /metrics, and instrumented code (RPC handlers, consumers,
 * the relay, breakers) should not need a registry threaded through every constructor.
 */
export const metricsRegistry = new Registry();

let defaultsCollected = false;

/** Adds prom-client's Node metrics (CPU, RSS, heap, event-loop lag, GC) once, when a process serves /metrics. */
export function collectProcessMetrics(): void {
  if (defaultsCollected) return;
  defaultsCollected = true;
  collectDefaultMetrics({ register: metricsRegistry });
}
