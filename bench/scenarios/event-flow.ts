import { lastSequence, notifiedTimes, readCreatedEvents, shipmentTimes, waitForEventSide, type PublishedOrder } from "../event-timings.js";
import { newHistogram, recordMs, summarize, ratio, type LatencySummary } from "../histogram.js";
import { runJetStreamCeiling } from "../jetstream-ceiling.js";
import { measuredColumns, measuredRun, type BenchContext } from "../measure.js";
import { errorCount, type ResultRow } from "../report.js";

/**
 * Event flow, open loop: CreateOrder at a fixed rate, then for every order of the phase the time from
 * its commit (create_time) to being stored on JetStream, to the notifier's email reaching SMTP, and to
 * its shipment row in shipping. The publish row sits beside raw JetStream publishes as its ceiling.
 */
export async function runEventFlow(ctx: BenchContext): Promise<ResultRow[]> {
  ctx.log("JetStream publish ceiling");
  const broker = await runJetStreamCeiling(ctx.mesh.natsUrl, ctx.plan.jetstreamMs);
  const rows: ResultRow[] = [
    {
      scenario: "JetStream ceiling",
      load: `${broker.inFlight} in flight`,
      throughput: broker.publishesPerSec,
      latency: undefined,
      errors: {},
      note: "raw acked publishes with Nats-Msg-Id",
    },
  ];
  for (const rate of ctx.plan.flowRates) {
    ctx.log(`event flow ${rate}/s for ${ctx.plan.flowMs / 1000} s`);
    const tag = `bench-flow-${rate}-${Date.now()}`;
    const afterSeq = await lastSequence(ctx.mesh);
    const m = await measuredRun(
      ctx,
      { target: ctx.mesh.ordersUrl, workload: { kind: "createOrder", customerId: tag } },
      { kind: "open", ratePerSec: rate, durationMs: ctx.plan.flowMs },
      ctx.mesh.pids,
      async (result) => {
        ctx.ordersAccepted += result.ok;
        await waitForEventSide(ctx.mesh, ctx.ordersAccepted, ctx.plan.drainTimeoutMs, ctx.log);
      },
    );
    const events = (await readCreatedEvents(ctx.mesh, afterSeq)).filter((e) => e.customerId === tag);
    const stages = await stageLatencies(ctx, events);
    const seconds = ctx.plan.flowMs / 1000;
    const rpcErrors = m.result.errors;
    rows.push({
      scenario: "Flow CreateOrder RPC",
      load: `${rate}/s`,
      ...measuredColumns(m),
      errors: rpcErrors,
      target: { text: "0 errors", met: errorCount(rpcErrors) === 0 },
      note: "latency from intended send time (open loop)",
    });
    const missing = (n: number): Record<string, number> => (m.result.ok - n > 0 ? { notDelivered: m.result.ok - n } : {});
    rows.push({
      scenario: "Flow commit->published",
      load: `${rate}/s`,
      throughput: stages.published.count / seconds,
      latency: stages.published,
      errors: missing(stages.published.count),
      ceiling: { name: "JetStream publish", throughput: broker.publishesPerSec },
      ratio: ratio(stages.published.count / seconds, broker.publishesPerSec),
    });
    rows.push(stageRow("Flow commit->notifier", rate, seconds, stages.notified, missing, m.result.ok, 50));
    rows.push(stageRow("Flow commit->shipment", rate, seconds, stages.shipped, missing, m.result.ok, 100));
  }
  return rows;
}

async function stageLatencies(ctx: BenchContext, events: PublishedOrder[]) {
  const published = newHistogram();
  const notified = newHistogram();
  const shipped = newHistogram();
  const shipments = await shipmentTimes(ctx.mesh, events.map((e) => e.orderId));
  const emails = await notifiedTimes(ctx.mesh, events.map((e) => e.eventId));
  for (const e of events) {
    recordMs(published, e.publishedMs - e.createdMs);
    const mailedAt = emails.get(e.eventId);
    if (mailedAt !== undefined) recordMs(notified, mailedAt - e.createdMs);
    const shippedAt = shipments.get(e.orderId);
    if (shippedAt !== undefined) recordMs(shipped, shippedAt - e.createdMs);
  }
  return { published: summarize(published), notified: summarize(notified), shipped: summarize(shipped) };
}

/** One downstream stage of the flow (email, shipment); at 500/s it carries the p99 target. */
function stageRow(
  scenario: string,
  rate: number,
  seconds: number,
  latency: LatencySummary,
  missing: (n: number) => Record<string, number>,
  accepted: number,
  targetP99Ms: number,
): ResultRow {
  return {
    scenario,
    load: `${rate}/s`,
    throughput: latency.count / seconds,
    latency,
    errors: missing(latency.count),
    target:
      rate === 500
        ? { text: `p99 <= ${targetP99Ms} ms, all delivered`, met: latency.p99Ms <= targetP99Ms && latency.count === accepted }
        : undefined,
  };
}
