import { measureCpu, measureMachine, cpuPerCall } from "./cpu.js";
import { decodeHistogram, summarize, type LatencySummary } from "./histogram.js";
import type { LoadGenerator, LoadMode, LoadResult, LoadSpec } from "./load-spec.js";
import type { MeshUnderBench } from "./mesh.js";
import type { ResultRow } from "./report.js";

/** What every scenario works with. */
export interface BenchContext {
  mesh: MeshUnderBench;
  gen: LoadGenerator;
  plan: BenchPlan;
  /** Orders the mesh has accepted so far (to know when the event side has caught up). */
  ordersAccepted: number;
  notes: string[];
  log(line: string): void;
}

/** What a scenario that starts its own processes (and needs no shared mesh) works with. */
export type StandaloneContext = Omit<BenchContext, "mesh" | "ordersAccepted">;

/** Durations and levels of a run (full or --quick). */
export interface BenchPlan {
  warmupMs: number;
  closedMs: number;
  getOrderLevels: number[];
  createOrderLevels: number[];
  pgbenchSec: number;
  jetstreamMs: number;
  flowRates: number[];
  flowMs: number;
  /** Arrival rates of the saturation search, lowest first; it stops at the first that falls behind. */
  saturationRates: number[];
  saturationStepMs: number;
  soakMs: number;
  soakRate: number;
  soakSampleMs: number;
  /** How long to wait for the event side to catch up after a phase. */
  drainTimeoutMs: number;
  /** Open-loop CreateOrder rate of every telemetry mode (orders/s). */
  telemetryRate: number;
  /** Measured time of one telemetry mode, after its warm-up. */
  telemetryMs: number;
  /** Unmeasured load on each mode's fresh mesh first, at the same rate. */
  telemetryWarmupMs: number;
  /** Passes over the four telemetry modes, every second one in reverse order. */
  telemetryRounds: number;
  /** Publishes awaiting their PubAck at once in the broker rows. */
  brokerConcurrency: number;
  /** Measured time of one broker row. */
  brokerMs: number;
  /** Outbox rows the relay drains on each broker. */
  brokerRelayRows: number;
}

/** A measured run: the generator's result, its latency summary and server CPU per OK call. */
export interface Measured {
  result: LoadResult;
  latency: LatencySummary;
  cpu: { total: number; byProcess: Record<string, number> } | undefined;
  /** µs per OK call spent by the whole machine ("machine") and by PostgreSQL, nats-server and the load generator. */
  machine: Record<string, number>;
}

/**
 * Warms up with the same workload, then runs `mode` while reading the CPU of `pids`. `settle`, if
 * given, runs before CPU is read again, so work the run queued (events) is charged to it too.
 */
export async function measuredRun(
  ctx: BenchContext,
  spec: Omit<LoadSpec, "mode">,
  mode: LoadMode,
  pids: Record<string, number | undefined>,
  settle?: (result: LoadResult) => Promise<void>,
): Promise<Measured> {
  if (ctx.plan.warmupMs > 0 && mode.kind === "closed") {
    const warm = await ctx.gen.run({ ...spec, mode: { ...mode, durationMs: ctx.plan.warmupMs } });
    await settle?.(warm);
  }
  const known = Object.fromEntries(Object.entries(pids).filter((e): e is [string, number] => e[1] !== undefined));
  const stop = Object.keys(known).length > 0 ? measureCpu(known) : undefined;
  const stopMachine = measureMachine(ctx.gen.pid);
  const result = await ctx.gen.run({ ...spec, mode });
  await settle?.(result);
  const cpu = stop ? cpuPerCall(stop(), result.ok) : undefined;
  const machine = cpuPerCall(stopMachine(), result.ok).byProcess;
  return { result, latency: summarize(decodeHistogram(result.histogram)), cpu, machine };
}

/** The columns every result row takes from its measured run (a row may still override errors). */
export function measuredColumns(m: Measured): Pick<ResultRow, "throughput" | "latency" | "errors" | "cpuUsPerOp" | "cpuByProcess" | "machineCpuUsPerOp" | "sharedCpuByProcess"> {
  return {
    throughput: m.result.throughput,
    latency: m.latency,
    errors: m.result.errors,
    cpuUsPerOp: m.cpu?.total,
    cpuByProcess: m.cpu?.byProcess,
    machineCpuUsPerOp: m.machine.machine,
    sharedCpuByProcess: m.machine,
  };
}
