import { Counter } from "prom-client";
import { metricsRegistry } from "./registry.js";
import { scrapedGauges } from "./scraped-gauges.js";

/** The outbox of a service's database, read from the table on scrape (labelled by event family). */
export const outboxGauges = scrapedGauges(
  {
    backlog: { name: "ordermesh_outbox_backlog", help: "Outbox rows not yet published (failed rows not counted)." },
    oldestAgeSeconds: { name: "ordermesh_outbox_oldest_unpublished_age_seconds", help: "Age of the oldest unpublished, not failed outbox row; 0 when there is none." },
    failed: { name: "ordermesh_outbox_failed", help: "Outbox rows the relay gave up on (failed_at set), waiting for an operator." },
  },
  ["family"],
);

/** A durable consumer as JetStream reports it (consumer info), read on scrape with a short cache. */
export const consumerGauges = scrapedGauges(
  {
    pending: { name: "ordermesh_consumer_pending", help: "Messages of the stream the durable consumer has not been delivered yet (num_pending)." },
    ackPending: { name: "ordermesh_consumer_ack_pending", help: "Messages delivered to the consumer and not yet acknowledged (num_ack_pending)." },
    redelivered: { name: "ordermesh_consumer_redelivered", help: "Messages delivered more than once and still unacknowledged (num_redelivered)." },
  },
  ["stream", "consumer"],
  2000,
);

/** Messages this process settled, by consumer and outcome: ack, retry (nak) or dead_letter. */
export const consumerSettled = new Counter({
  name: "ordermesh_consumer_messages_total",
  help: "Messages settled by this process's durable consumers, by outcome: ack, retry, dead_letter.",
  labelNames: ["stream", "consumer", "outcome"],
  registers: [metricsRegistry],
});

/** Messages this process dead-lettered (stored on the dead-letter stream, then terminated). */
export const consumerDeadLettered = new Counter({
  name: "ordermesh_consumer_dead_lettered_total",
  help: "Messages this process's durable consumers moved to the dead-letter stream.",
  labelNames: ["stream", "consumer"],
  registers: [metricsRegistry],
});
