import { processedLagMs, type OrderTimeline } from "../event-timings.js";
import { newHistogram, recordMs, summarize } from "../histogram.js";
import { measuredColumns, type BenchContext } from "../measure.js";
import { errorCount, type ResultRow } from "../report.js";
import { runOpenLoopPhase } from "./event-flow.js";

/** Issue 11's bound: orders/s the mesh must create, ship and mail without falling behind. */
export const saturationTarget = 600;

/** How a step is judged; exported for the tests. */
export const keepUpRules = {
  /** The lag of the step's last quarter (median) may exceed its first quarter's by this much at most. */
  maxLagGrowthMs: 500,
  /** CreateOrder's p99 from its intended send time: above it, orders itself did not keep up. */
  maxRpcP99Ms: 1000,
};

/** What a step of the saturation search measured. */
export interface StepOutcome {
  offered: number;
  /** CreateOrder calls answered OK. */
  accepted: number;
  rpcErrors: number;
  rpcP99Ms: number;
  timelines: readonly OrderTimeline[];
}

/**
 * Whether a step kept up: every call created its order, every order was shipped and mailed, CreateOrder
 * answered in time, and the lag from commit to fully processed did not grow over the step (the median
 * of its last quarter of orders, by commit time, within maxLagGrowthMs of its first quarter's). A backlog
 * that grows for the whole step is what falling behind looks like; a steady lag is not.
 */
export function judgeStep(step: StepOutcome): { keptUp: boolean; reason: string; lagGrowthMs: number | undefined } {
  if (step.rpcErrors > 0 || step.accepted < step.offered) return { keptUp: false, reason: `${step.offered - step.accepted} CreateOrder calls failed`, lagGrowthMs: undefined };
  if (step.rpcP99Ms > keepUpRules.maxRpcP99Ms) return { keptUp: false, reason: `CreateOrder p99 ${Math.round(step.rpcP99Ms)} ms`, lagGrowthMs: undefined };
  const lags = [...step.timelines]
    .sort((a, b) => a.createdMs - b.createdMs)
    .map(processedLagMs)
    .filter((l): l is number => l !== undefined);
  if (lags.length < step.accepted) return { keptUp: false, reason: `${step.accepted - lags.length} orders not shipped and mailed`, lagGrowthMs: undefined };
  const quarter = Math.max(1, Math.floor(lags.length / 4));
  const growth = median(lags.slice(-quarter)) - median(lags.slice(0, quarter));
  if (growth > keepUpRules.maxLagGrowthMs) return { keptUp: false, reason: `lag grew ${Math.round(growth)} ms over the step`, lagGrowthMs: growth };
  return { keptUp: true, reason: "kept up", lagGrowthMs: growth };
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? 0;
}

/**
 * The saturation search: open-loop CreateOrder steps at rising rates (plan.saturationRates), each
 * drained before the next, until one falls behind (judgeStep). One row per step with the commit to
 * fully processed lag, and a summary row: the last rate that kept up, against the issue's target.
 */
export async function runSaturation(ctx: BenchContext): Promise<ResultRow[]> {
  const rows: ResultRow[] = [];
  let sustained: number | undefined;
  let fellBehindAt: string | undefined;
  for (const rate of ctx.plan.saturationRates) {
    ctx.log(`saturation step ${rate}/s for ${ctx.plan.saturationStepMs / 1000} s`);
    const { m, timelines } = await runOpenLoopPhase(ctx, rate, ctx.plan.saturationStepMs, `bench-sat-${rate}`);
    const offered = Math.round((rate * ctx.plan.saturationStepMs) / 1000);
    const verdict = judgeStep({ offered, accepted: m.result.ok, rpcErrors: errorCount(m.result.errors), rpcP99Ms: m.latency.p99Ms, timelines });
    const lag = newHistogram();
    for (const t of timelines) {
      const ms = processedLagMs(t);
      if (ms !== undefined) recordMs(lag, ms);
    }
    const processed = summarize(lag);
    rows.push({
      scenario: "Saturation step commit->processed",
      load: `${rate}/s`,
      ...measuredColumns(m),
      throughput: processed.count / (ctx.plan.saturationStepMs / 1000),
      latency: processed,
      note: `${verdict.reason}${verdict.lagGrowthMs !== undefined ? ` (lag growth ${Math.round(verdict.lagGrowthMs)} ms)` : ""}; CreateOrder p99 ${m.latency.p99Ms.toFixed(0)} ms`,
    });
    if (!verdict.keptUp) {
      fellBehindAt = `${rate}/s: ${verdict.reason}`;
      break;
    }
    sustained = rate;
  }
  const at = rows.find((r) => r.load === `${sustained}/s`);
  rows.push({
    scenario: "Saturation: sustained orders/s (created, shipped, mailed)",
    load: `steps ${ctx.plan.saturationRates[0]}-${ctx.plan.saturationRates.at(-1)}/s`,
    throughput: sustained ?? 0,
    latency: at?.latency,
    errors: {},
    cpuUsPerOp: at?.cpuUsPerOp,
    machineCpuUsPerOp: at?.machineCpuUsPerOp,
    target: { text: `>= ${saturationTarget}/s sustained`, met: (sustained ?? 0) >= saturationTarget },
    note: fellBehindAt ? `fell behind at ${fellBehindAt}` : `kept up at every step up to ${ctx.plan.saturationRates.at(-1)}/s`,
  });
  return rows;
}
