import { waitForEventSide } from "../event-timings.js";
import { startIsolatedOrders } from "../isolated-orders.js";
import { ratio } from "../histogram.js";
import { measuredColumns, measuredRun, type BenchContext, type Measured } from "../measure.js";
import { runPgbenchCeiling } from "../pgbench-ceiling.js";
import { errorCount, type ResultRow } from "../report.js";

/**
 * CreateOrder with a unique request_id per call at each concurrency, beside pgbench running the same
 * statement at the same concurrency, twice: against the whole mesh (the event side ships and mails every
 * order on the same two cores; CPU per order covers all three services until it has caught up, i.e. what
 * one order costs end to end), and against orders alone with no event side (what pgbench bounds).
 */
export async function runCreateOrder(ctx: BenchContext, postgresUrl: string): Promise<ResultRow[]> {
  const measured: Array<{ concurrency: number; m: Measured }> = [];
  for (const concurrency of ctx.plan.createOrderLevels) {
    ctx.log(`CreateOrder c=${concurrency}`);
    const m = await measuredRun(
      ctx,
      { target: ctx.mesh.ordersUrl, workload: { kind: "createOrder", customerId: `bench-create-c${concurrency}` } },
      { kind: "closed", concurrency, durationMs: ctx.plan.closedMs },
      ctx.mesh.pids,
      async (result) => {
        ctx.ordersAccepted += result.ok;
        if (!(await waitForEventSide(ctx.mesh, ctx.ordersAccepted, ctx.plan.drainTimeoutMs, ctx.log))) {
          ctx.notes.push(`CreateOrder c=${concurrency}: event side had not caught up ${ctx.plan.drainTimeoutMs} ms after the run`);
        }
      },
    );
    measured.push({ concurrency, m });
  }
  const alone: Array<{ concurrency: number; m: Measured }> = [];
  const isolated = await startIsolatedOrders(postgresUrl);
  try {
    for (const concurrency of ctx.plan.createOrderLevels) {
      ctx.log(`CreateOrder c=${concurrency}, orders alone`);
      const m = await measuredRun(
        ctx,
        { target: isolated.url, workload: { kind: "createOrder", customerId: `bench-alone-c${concurrency}` } },
        { kind: "closed", concurrency, durationMs: ctx.plan.closedMs },
        { orders: isolated.pid },
      );
      alone.push({ concurrency, m });
    }
  } finally {
    await isolated.close();
  }
  ctx.log(`pgbench ceiling c=${ctx.plan.createOrderLevels.join(",")}`);
  const pg = await runPgbenchCeiling(postgresUrl, ctx.plan.createOrderLevels, ctx.plan.pgbenchSec);
  const rows = (scenario: string, runs: typeof measured) => runs.map(({ concurrency, m }): ResultRow => {
    const bound = pg.find((p) => p.concurrency === concurrency);
    const r = ratio(m.result.throughput, bound?.tps);
    const ok = errorCount(m.result.errors) === 0;
    return {
      scenario,
      load: `c=${concurrency}`,
      ...measuredColumns(m),
      ceiling: bound ? { name: "pgbench same SQL", throughput: bound.tps } : undefined,
      ratio: r,
      target: { text: ">= 60% of pgbench, 0 errors", met: (r ?? 0) >= 0.6 && ok },
      note: bound && bound.failed > 0 ? `pgbench failed transactions: ${bound.failed}` : undefined,
    };
  });
  return [...rows("CreateOrder (mesh)", measured), ...rows("CreateOrder (orders alone)", alone)];
}
