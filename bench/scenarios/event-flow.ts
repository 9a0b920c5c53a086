import { lastSequence, orderTimelines, readCreatedEvents, waitForEventSide, type OrderTimeline } from "../event-timings.js";
import { newHistogram, recordMs, summarize, ratio, type LatencySummary } from "../histogram.js";
import { runJetStreamCeiling } from "../jetstream-ceiling.js";
import { measuredColumns, measuredRun, type BenchContext, type Measured } from "../measure.js";
import { errorCount, type ResultRow, type TargetCheck } from "../report.js";

/** Issue 11's p99 bounds of commit->email and commit->shipment, by arrival rate (orders/s). */
export const flowStageTargetsMs: Readonly<Record<number, number>> = { 300: 250, 500: 1000 };

/** Issue 11's bound of machine CPU per order end to end, at this arrival rate. */
export const flowMachineTarget = { ratePerSec: 500, usPerOrder: 3500 };

/**
 * Event flow, open loop: CreateOrder at a fixed rate, then for every order of the phase the time from
 * its commit (create_time) to being stored on JetStream, to its confirmation email reaching SMTP, and
 * to its shipment row in shipping. The publish row sits beside raw JetStream publishes as its ceiling.
 * CPU per order counts until the event side has shipped and mailed every order of the phase.
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
    const { m, timelines } = await runOpenLoopPhase(ctx, rate, ctx.plan.flowMs, `bench-flow-${rate}`);
    const stages = stageLatencies(timelines);
    const seconds = ctx.plan.flowMs / 1000;
    const rpcErrors = m.result.errors;
    rows.push({
      scenario: "Flow CreateOrder RPC",
      load: `${rate}/s`,
      ...measuredColumns(m),
      errors: rpcErrors,
      target: rate === flowMachineTarget.ratePerSec ? machineTarget(m, rpcErrors) : { text: "0 errors", met: errorCount(rpcErrors) === 0 },
      note: "latency from intended send time (open loop); CPU per order until every order is shipped and mailed",
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
    rows.push(stageRow("Flow commit->email", rate, seconds, stages.mailed, missing, m.result.ok));
    rows.push(stageRow("Flow commit->shipment", rate, seconds, stages.shipped, missing, m.result.ok));
  }
  return rows;
}

/**
 * CreateOrder at `rate` for `durationMs`, open loop, all orders of one customer tag; CPU is read until
 * the event side has caught up. Returns the run and the timeline of each order it created.
 */
export async function runOpenLoopPhase(ctx: BenchContext, rate: number, durationMs: number, tagPrefix: string): Promise<{ m: Measured; timelines: OrderTimeline[]; drained: boolean }> {
  const tag = `${tagPrefix}-${Date.now()}`;
  const afterSeq = await lastSequence(ctx.mesh);
  let drained = true;
  const m = await measuredRun(
    ctx,
    { target: ctx.mesh.ordersUrl, workload: { kind: "createOrder", customerId: tag } },
    { kind: "open", ratePerSec: rate, durationMs },
    ctx.mesh.pids,
    async (result) => {
      ctx.ordersAccepted += result.ok;
      drained = await waitForEventSide(ctx.mesh, ctx.ordersAccepted, ctx.plan.drainTimeoutMs, ctx.log);
    },
  );
  const events = (await readCreatedEvents(ctx.mesh, afterSeq)).filter((e) => e.customerId === tag);
  return { m, timelines: await orderTimelines(ctx.mesh, events), drained };
}

function stageLatencies(timelines: readonly OrderTimeline[]) {
  const published = newHistogram();
  const mailed = newHistogram();
  const shipped = newHistogram();
  for (const t of timelines) {
    recordMs(published, t.publishedMs - t.createdMs);
    if (t.mailedMs !== undefined) recordMs(mailed, t.mailedMs - t.createdMs);
    if (t.shippedMs !== undefined) recordMs(shipped, t.shippedMs - t.createdMs);
  }
  return { published: summarize(published), mailed: summarize(mailed), shipped: summarize(shipped) };
}

function machineTarget(m: Measured, rpcErrors: Record<string, number>): TargetCheck {
  const machine = m.machine.machine;
  return {
    text: `0 errors, machine CPU <= ${flowMachineTarget.usPerOrder.toLocaleString("en-US")} µs/order end to end`,
    met: errorCount(rpcErrors) === 0 && machine !== undefined && machine <= flowMachineTarget.usPerOrder,
  };
}

/** One downstream stage of the flow (email, shipment), with the p99 target at its rates. */
function stageRow(
  scenario: string,
  rate: number,
  seconds: number,
  latency: LatencySummary,
  missing: (n: number) => Record<string, number>,
  accepted: number,
): ResultRow {
  const bound = flowStageTargetsMs[rate];
  return {
    scenario,
    load: `${rate}/s`,
    throughput: latency.count / seconds,
    latency,
    errors: missing(latency.count),
    target:
      bound === undefined
        ? undefined
        : { text: `p99 <= ${bound.toLocaleString("en-US")} ms, all delivered`, met: latency.p99Ms <= bound && latency.count === accepted },
  };
}
