import { rssBytes } from "../cpu.js";
import { waitForEventSide } from "../event-timings.js";
import { measuredColumns, measuredRun, type BenchContext } from "../measure.js";
import { errorCount, isFlat, type BenchReport, type ResultRow } from "../report.js";

/** CreateOrder at a moderate fixed rate for the soak duration, sampling every service's RSS at a fixed interval. */
export async function runSoak(ctx: BenchContext): Promise<{ row: ResultRow; soak: NonNullable<BenchReport["soak"]> }> {
  const pids = Object.fromEntries(Object.entries(ctx.mesh.pids).filter((e): e is [string, number] => e[1] !== undefined));
  const samples: Array<Record<string, number>> = [];
  const sample = () => samples.push(Object.fromEntries(Object.entries(pids).map(([s, pid]) => [s, rssBytes(pid)])));
  ctx.log(`soak ${ctx.plan.soakRate}/s for ${ctx.plan.soakMs / 1000} s`);
  sample();
  const timer = setInterval(sample, ctx.plan.soakSampleMs);
  let drained = true;
  const m = await measuredRun(
    ctx,
    { target: ctx.mesh.ordersUrl, workload: { kind: "createOrder", customerId: `bench-soak-${Date.now()}` } },
    { kind: "open", ratePerSec: ctx.plan.soakRate, durationMs: ctx.plan.soakMs },
    pids,
    async (result) => {
      clearInterval(timer);
      sample();
      ctx.ordersAccepted += result.ok;
      drained = await waitForEventSide(ctx.mesh, ctx.ordersAccepted, ctx.plan.drainTimeoutMs, ctx.log);
    },
  );
  const flat = Object.fromEntries(Object.keys(pids).map((s) => [s, isFlat(samples.map((x) => x[s] ?? 0))]));
  const errors = { ...m.result.errors, ...(drained ? {} : { eventSideBehind: 1 }) };
  const allFlat = Object.values(flat).every(Boolean);
  return {
    row: {
      scenario: "Soak CreateOrder",
      load: `${ctx.plan.soakRate}/s ${ctx.plan.soakMs / 1000}s`,
      ...measuredColumns(m),
      errors,
      target: { text: "0 errors, RSS flat", met: errorCount(errors) === 0 && allFlat },
      note: "RSS samples in the soak table",
    },
    soak: { intervalMs: ctx.plan.soakSampleMs, samples, flat },
  };
}
