import type { BreakerNumbers, ConsumerNumbers, OutboxNumbers, ServiceNumbers } from "./console-contract.js";
import { parsePrometheusText, type PrometheusSample } from "./prometheus-text.js";

// The series of services/platform/metrics the console reads; nothing else of the text is kept.
const series = {
  backlog: "ordermesh_outbox_backlog",
  oldestAge: "ordermesh_outbox_oldest_unpublished_age_seconds",
  outboxFailed: "ordermesh_outbox_failed",
  pending: "ordermesh_consumer_pending",
  ackPending: "ordermesh_consumer_ack_pending",
  redelivered: "ordermesh_consumer_redelivered",
  settled: "ordermesh_consumer_messages_total",
  deadLettered: "ordermesh_consumer_dead_lettered_total",
  breaker: "ordermesh_circuit_breaker_state",
  serving: "ordermesh_health_serving",
  rss: "process_resident_memory_bytes",
  lag: "nodejs_eventloop_lag_seconds",
} as const;
const wanted = new Set<string>(Object.values(series));
const breakerStates: BreakerNumbers["state"][] = ["closed", "half-open", "open"];

/** The console's numbers out of parsed samples. */
export function summarizeMetrics(samples: readonly PrometheusSample[]): ServiceNumbers {
  const of = (name: string) => samples.filter((s) => s.name === name);
  const outbox = new Map<string, OutboxNumbers>();
  const outboxOf = (family: string) => outbox.get(family) ?? outbox.set(family, { family, backlog: 0, oldestAgeSeconds: 0, failed: 0 }).get(family)!;
  for (const s of of(series.backlog)) outboxOf(s.labels.family ?? "").backlog = s.value;
  for (const s of of(series.oldestAge)) outboxOf(s.labels.family ?? "").oldestAgeSeconds = s.value;
  for (const s of of(series.outboxFailed)) outboxOf(s.labels.family ?? "").failed = s.value;

  const consumers = new Map<string, ConsumerNumbers>();
  const consumerOf = (labels: Record<string, string>) => {
    const key = `${labels.stream}/${labels.consumer}`;
    return consumers.get(key) ?? consumers.set(key, { stream: labels.stream ?? "", consumer: labels.consumer ?? "", handled: 0, retried: 0, deadLettered: 0 }).get(key)!;
  };
  for (const s of of(series.pending)) consumerOf(s.labels).pending = s.value;
  for (const s of of(series.ackPending)) consumerOf(s.labels).ackPending = s.value;
  for (const s of of(series.redelivered)) consumerOf(s.labels).redelivered = s.value;
  for (const s of of(series.deadLettered)) consumerOf(s.labels).deadLettered = s.value;
  for (const s of of(series.settled)) {
    if (s.labels.outcome === "ack") consumerOf(s.labels).handled = s.value;
    if (s.labels.outcome === "retry") consumerOf(s.labels).retried = s.value;
  }

  const serving = of(series.serving)[0];
  return {
    serving: serving === undefined ? undefined : serving.value === 1,
    outbox: [...outbox.values()],
    consumers: [...consumers.values()].sort((a, b) => `${a.stream}/${a.consumer}`.localeCompare(`${b.stream}/${b.consumer}`)),
    breakers: of(series.breaker).map((s) => ({ upstream: s.labels.upstream ?? "", state: breakerStates[s.value] ?? "open" })),
    rssBytes: of(series.rss)[0]?.value,
    eventLoopLagSeconds: of(series.lag)[0]?.value,
  };
}

/** Reads a service's /metrics (bounded in time and size) and summarizes it; rejects with why it could not. */
export async function readServiceNumbers(metricsUrl: string, options: { timeoutMs?: number; maxBytes?: number } = {}): Promise<ServiceNumbers> {
  const maxBytes = options.maxBytes ?? 4 * 1024 * 1024;
  const res = await fetch(metricsUrl, { signal: AbortSignal.timeout(options.timeoutMs ?? 2000) });
  if (!res.ok || !res.body) throw new Error(`GET ${metricsUrl}: HTTP ${res.status}`);
  const chunks: Uint8Array[] = [];
  let size = 0;
  for await (const chunk of res.body) {
    size += chunk.byteLength;
    if (size > maxBytes) throw new Error(`GET ${metricsUrl}: more than ${maxBytes} bytes`);
    chunks.push(chunk);
  }
  return summarizeMetrics(parsePrometheusText(Buffer.concat(chunks).toString("utf8"), wanted));
}
