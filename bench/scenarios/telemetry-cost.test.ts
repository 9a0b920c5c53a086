import { describe, expect, it } from "vitest";
import { encodeHistogram, newHistogram, recordMs } from "../histogram.js";
import type { Measured } from "../measure.js";
import {
  combineRuns,
  formatTelemetrySummary,
  modeSchedule,
  overheadOver,
  summarizeTelemetry,
  telemetryEnv,
  telemetryModes,
  telemetryRows,
  telemetryTarget,
  type TelemetryModeResult,
} from "./telemetry-cost.js";

const mode = (key: string) => telemetryModes.find((m) => m.key === key)!;

/** A run of `ok` orders costing `cpu` µs each (orders/shipping/notifier split 2:1:1), answered in `ms`. */
function run(ok: number, cpu: number, ms: number, errors: Record<string, number> = {}): Measured {
  const h = newHistogram();
  for (let i = 0; i < ok; i++) recordMs(h, ms);
  return {
    result: { calls: ok + Object.values(errors).reduce((a, b) => a + b, 0), ok, errors, elapsedMs: ok * 5, throughput: 200, histogram: encodeHistogram(h) },
    latency: { count: ok, p50Ms: ms, p99Ms: ms, p999Ms: ms, maxMs: ms, meanMs: ms },
    cpu: { total: cpu, byProcess: { orders: cpu / 2, shipping: cpu / 4, notifier: cpu / 4 } },
    machine: { machine: cpu * 3 },
  };
}

describe("telemetry modes", () => {
  it("turns everything off, serves metrics, or exports traces at the mode's root ratio", () => {
    expect(telemetryEnv(mode("off"), "orders", undefined, undefined)).toMatchObject({ ORDERS_METRICS_PORT: "off", OTEL_SDK_DISABLED: "true", OTEL_EXPORTER_OTLP_ENDPOINT: "" });
    expect(telemetryEnv(mode("metrics"), "shipping", 9999, undefined)).toMatchObject({ SHIPPING_METRICS_PORT: "9999", OTEL_SDK_DISABLED: "false", OTEL_EXPORTER_OTLP_ENDPOINT: "" });
    expect(telemetryEnv(mode("traces-10"), "notifier", 9998, "http://127.0.0.1:4318")).toMatchObject({
      NOTIFIER_METRICS_PORT: "9998",
      OTEL_EXPORTER_OTLP_ENDPOINT: "http://127.0.0.1:4318",
      OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: "",
      OTEL_TRACES_SAMPLER: "parentbased_traceidratio",
      OTEL_TRACES_SAMPLER_ARG: "0.1",
    });
    expect(telemetryEnv(mode("traces-100"), "orders", 9997, "http://127.0.0.1:4318").OTEL_TRACES_SAMPLER_ARG).toBe("1");
    expect(() => telemetryEnv(mode("traces-10"), "orders", 9997, undefined)).toThrow(/receiver/);
    expect(() => telemetryEnv(mode("metrics"), "orders", undefined, undefined)).toThrow(/port/);
  });

  it("alternates the order of the modes from round to round", () => {
    expect(modeSchedule(["a", "b", "c"], 1)).toEqual(["a", "b", "c"]);
    expect(modeSchedule(["a", "b", "c"], 3)).toEqual(["a", "b", "c", "c", "b", "a", "a", "b", "c"]);
  });
});

describe("telemetry cost", () => {
  it("combines rounds weighting each by its orders, and merges their latencies and errors", () => {
    const c = combineRuns([run(100, 3000, 10), run(300, 4000, 30, { Unavailable: 2 })]);
    expect(c.result.ok).toBe(400);
    expect(c.cpu).toEqual({ total: 3750, byProcess: { orders: 1875, shipping: 938, notifier: 938 } });
    expect(c.machine.machine).toBe(11_250);
    expect(c.result.errors).toEqual({ Unavailable: 2 });
    expect(c.latency.count).toBe(400);
    expect(c.latency.p50Ms).toBeCloseTo(30, 0);
    expect(c.latency.maxMs).toBeCloseTo(30, 0);
  });

  it("judges a mode by its CPU over off against the issue's bound, and only modes that have one", () => {
    expect(overheadOver(1000, 1080)).toBeCloseTo(0.08);
    expect(overheadOver(undefined, 1080)).toBeUndefined();
    expect(telemetryTarget(mode("traces-10"), 0.08, {})).toEqual({ text: "<= 10% more CPU/order than telemetry off, 0 errors", met: true });
    expect(telemetryTarget(mode("traces-10"), 0.12, {})?.met).toBe(false);
    expect(telemetryTarget(mode("traces-10"), 0.02, { Unavailable: 1 })?.met).toBe(false);
    expect(telemetryTarget(mode("traces-100"), 0.24, {})?.met).toBe(true);
    expect(telemetryTarget(mode("traces-100"), undefined, {})?.met).toBe(false);
    expect(telemetryTarget(mode("metrics"), 0.5, {})).toBeUndefined();
  });

  it("reports each mode's CPU per order, its overhead, its target and its spans per order", () => {
    const scrapes = { ok: 30, failed: 0, bytes: 1000 };
    const results: TelemetryModeResult[] = [
      { mode: mode("off"), runs: [run(1000, 4000, 5), run(1000, 4000, 5)], spans: 0, scrapes: { ok: 0, failed: 0, bytes: 0 } },
      { mode: mode("metrics"), runs: [run(1000, 4100, 5), run(1000, 4100, 5)], spans: 0, scrapes },
      { mode: mode("traces-10"), runs: [run(1000, 4300, 5), run(1000, 4500, 5)], spans: 260, scrapes },
      { mode: mode("traces-100"), runs: [run(1000, 5200, 5), run(1000, 5200, 5)], spans: 26_000, scrapes },
    ];
    const summaries = summarizeTelemetry(results);
    expect(summaries.map((s) => s.overhead)).toEqual([undefined, expect.closeTo(0.025), expect.closeTo(0.1), expect.closeTo(0.3)]);
    expect(summaries.map((s) => s.target?.met)).toEqual([undefined, undefined, true, false]);
    expect(summaries.map((s) => s.spansPerOrder)).toEqual([0, 0, 0.13, 13]);

    const rows = telemetryRows(summaries, 200);
    expect(rows.map((r) => [r.scenario, r.load, r.cpuUsPerOp])).toEqual([
      ["Telemetry: telemetry off", "200/s", 4000],
      ["Telemetry: metrics only", "200/s", 4100],
      ["Telemetry: metrics + traces 10%", "200/s", 4400],
      ["Telemetry: metrics + traces 100%", "200/s", 5200],
    ]);
    expect(rows[3]!.note).toBe("+30.0% CPU/order vs off, 13.00 spans/order, 30 scrapes (0 failed)");

    const table = formatTelemetrySummary(summaries).split("\n");
    expect(table[0]).toBe("| mode | CPU µs/order | per round | vs off | target | spans/order | orders | orders µs | shipping µs | notifier µs | scrapes |");
    expect(table[2]).toBe("| telemetry off | 4,000 | 4,000 / 4,000 | base |  | 0.00 | 2,000 | 2,000 | 1,000 | 1,000 |  |");
    expect(table[4]).toBe("| metrics + traces 10% | 4,400 | 4,300 / 4,500 | +10.0% | met: <= 10% | 0.13 | 2,000 | 2,200 | 1,100 | 1,100 | 30 ok, 0 failed |");
    expect(table[5]).toContain("| +30.0% | MISSED: <= 25% |");
  });
});
