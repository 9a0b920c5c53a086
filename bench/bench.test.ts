import { describe, expect, it } from "vitest";
import { parseArgs, scenarioNames, sharedMeshScenarios } from "./cli.js";
import { cpuPerCall } from "./cpu.js";
import { frame, unframe } from "./grpc-h2-client.js";
import { decodeHistogram, encodeHistogram, newHistogram, ratio, recordMs, summarize } from "./histogram.js";
import { dueCount, intendedSendMs, msUntilDue, totalRequests } from "./open-loop.js";
import { createOrderScript, parsePgbenchOutput } from "./pgbench-ceiling.js";
import { formatErrors, formatTable, isFlat, type ResultRow } from "./report.js";
import { processedLagMs, type OrderTimeline } from "./event-timings.js";
import { judgeStep, keepUpRules } from "./scenarios/saturation.js";

describe("histogram", () => {
  it("reports percentiles in ms and survives encoding across processes", () => {
    const h = newHistogram();
    for (let i = 1; i <= 1000; i++) recordMs(h, i / 10); // 0.1 ms .. 100 ms
    const s = summarize(decodeHistogram(encodeHistogram(h)));
    expect(s.count).toBe(1000);
    expect(s.p50Ms).toBeCloseTo(50, 0);
    expect(s.p99Ms).toBeCloseTo(99, 0);
    expect(s.maxMs).toBeCloseTo(100, 0);
  });

  it("summarises an empty histogram as zeros", () => {
    expect(summarize(newHistogram())).toEqual({ count: 0, p50Ms: 0, p99Ms: 0, p999Ms: 0, maxMs: 0, meanMs: 0 });
  });

  it("computes ratios only against a usable ceiling", () => {
    expect(ratio(350, 1000)).toBe(0.35);
    expect(ratio(1, 3)).toBe(0.333);
    expect(ratio(5, 0)).toBeUndefined();
    expect(ratio(5, undefined)).toBeUndefined();
  });
});

describe("open-loop schedule", () => {
  it("spaces intended send times by 1/rate from the start", () => {
    expect(intendedSendMs(0, 500)).toBe(0);
    expect(intendedSendMs(500, 500)).toBe(1000);
    expect(totalRequests(20_000, 500)).toBe(10_000);
  });

  it("counts due requests without ever exceeding the total", () => {
    expect(dueCount(-1, 100, 10)).toBe(0);
    expect(dueCount(0, 100, 10)).toBe(1);
    expect(dueCount(25, 100, 10)).toBe(3); // due at 0, 10, 20 ms
    expect(dueCount(10_000, 100, 10)).toBe(10);
  });

  it("waits exactly until the next request is due, never negative", () => {
    expect(msUntilDue(3, 25, 100)).toBe(5);
    expect(msUntilDue(3, 40, 100)).toBe(0);
  });
});

describe("report", () => {
  const row: ResultRow = {
    scenario: "GetOrder",
    load: "c=64",
    throughput: 4200,
    latency: { count: 42_000, p50Ms: 12.345, p99Ms: 40, p999Ms: 55.5, maxMs: 70.25, meanMs: 14 },
    errors: { Unavailable: 2 },
    cpuUsPerOp: 310,
    machineCpuUsPerOp: 470,
    ceiling: { name: "bare http2", throughput: 12_000 },
    ratio: 0.35,
    target: { text: ">= 35% of bare http2", met: true },
  };

  it("prints each result beside its ceiling and the ratio", () => {
    const lines = formatTable([row]).split("\n");
    expect(lines[0]).toMatch(/^\| scenario \| load \| ops\/s .* ceiling \| ceiling ops\/s \| ratio \| target \|$/);
    expect(lines[2]).toBe("| GetOrder | c=64 | 4,200 | 12.35 | 40.00 | 55.50 | 70.3 | Unavailable:2 | 310 | 470 | bare http2 | 12,000 | 35% | met: >= 35% of bare http2 |");
  });

  it("formats errors by code and a clean run as 0", () => {
    expect(formatErrors({})).toBe("0");
    expect(formatErrors({ Unavailable: 0 })).toBe("0");
    expect(formatErrors({ Unavailable: 3, DeadlineExceeded: 1 })).toBe("Unavailable:3 DeadlineExceeded:1");
  });

  it("calls RSS flat when it levels off and not when it keeps climbing", () => {
    const mib = (n: number) => n * 2 ** 20;
    expect(isFlat([100, 140, 150, 148, 151, 149, 150].map(mib))).toBe(true);
    expect(isFlat([100, 130, 160, 190, 220, 250, 280].map(mib))).toBe(false);
  });

  it("divides each process's CPU by the calls", () => {
    expect(cpuPerCall({ orders: 3_000_000, shipping: 1_000_000 }, 10_000)).toEqual({ total: 400, byProcess: { orders: 300, shipping: 100 } });
  });
});

describe("gRPC framing and pgbench", () => {
  it("frames a message with a 5-byte prefix and reads it back", () => {
    const framed = frame(new Uint8Array([1, 2, 3]));
    expect([...framed]).toEqual([0, 0, 0, 0, 3, 1, 2, 3]);
    expect([...unframe(framed)]).toEqual([1, 2, 3]);
  });

  it("runs the CreateOrder statement: the three inserts of one CTE, with pgbench variables", () => {
    expect(createOrderScript).toMatch(/with inserted as \(\s+insert into orders/);
    expect(createOrderScript).toMatch(/insert into line_items/);
    expect(createOrderScript).toMatch(/insert into outbox/);
    // The conflict target of order-store.ts: request ids are unique per customer (orders migration 0003).
    expect(createOrderScript).toMatch(/on conflict \(customer_id, request_id\) do nothing/);
  });

  it("parses pgbench's summary", () => {
    const out = "number of failed transactions: 0 (0.000%)\nlatency average = 4.210 ms\ntps = 7600.123456 (without initial connection time)\n";
    expect(parsePgbenchOutput(out, 32)).toEqual({ concurrency: 32, tps: 7600.123456, latencyAvgMs: 4.21, failed: 0 });
  });
});

describe("command line", () => {
  it("parses --quick and --only, and refuses addresses off this machine", () => {
    const args = parseArgs(["--quick", "--only", "getorder,flow"]);
    expect(args.quick).toBe(true);
    expect([...args.only]).toEqual(["getorder", "flow"]);
    expect(parseArgs(["--orders", "127.0.0.1:50051"]).ordersAddr).toBe("127.0.0.1:50051");
    expect(() => parseArgs(["--orders", "10.0.0.5:50051"])).toThrow(/127\.0\.0\.1/);
    expect(() => parseArgs(["--only", "nope"])).toThrow(/unknown scenario/);
    expect(() => parseArgs(["--bogus"])).toThrow(/Unknown option '--bogus'[\s\S]*usage: npm run bench/);
    expect(() => parseArgs(["--only"])).toThrow(/argument missing/);
    expect(() => parseArgs(["positional"])).toThrow(/usage: npm run bench/);
    expect(parseArgs(["--pids", "orders=12,shipping=34"]).pids).toEqual({ orders: 12, shipping: 34 });
  });

  it("selects the scenarios that bring their own mesh or broker, and knows which need the shared one", () => {
    expect([...parseArgs(["--only", "telemetry,broker"]).only]).toEqual(["telemetry", "broker"]);
    expect(scenarioNames.filter((n) => !sharedMeshScenarios.includes(n))).toEqual(["telemetry", "broker"]);
  });

  it("takes flow rates and rising saturation steps", () => {
    expect(parseArgs(["--only", "saturation", "--steps", "400,500,700"])).toMatchObject({ only: new Set(["saturation"]), steps: [400, 500, 700] });
    expect(parseArgs(["--rates", "300,500"]).rates).toEqual([300, 500]);
    expect(() => parseArgs(["--steps", "500,400"])).toThrow(/must rise/);
    expect(() => parseArgs(["--rates", "0"])).toThrow(/positive/);
  });
});

describe("saturation search", () => {
  // Orders every 2 ms (500/s), each processed `lag(i)` ms after its commit.
  const timelines = (n: number, lag: (i: number) => number): OrderTimeline[] =>
    Array.from({ length: n }, (_, i) => ({ orderId: `o${i}`, createdMs: i * 2, publishedMs: i * 2 + 5, mailedMs: i * 2 + lag(i), shippedMs: i * 2 + lag(i) / 2 }));
  const step = (t: OrderTimeline[]) => ({ offered: t.length, accepted: t.length, rpcErrors: 0, rpcP99Ms: 40, timelines: t });

  it("measures an order's lag to the later of its email and its shipment", () => {
    expect(processedLagMs({ orderId: "a", createdMs: 100, publishedMs: 110, mailedMs: 300, shippedMs: 250 })).toBe(200);
    expect(processedLagMs({ orderId: "a", createdMs: 100, publishedMs: 110, mailedMs: undefined, shippedMs: 250 })).toBeUndefined();
  });

  it("keeps up with a steady lag, even a long one, and falls behind when the lag keeps growing", () => {
    expect(judgeStep(step(timelines(2000, () => 900)))).toMatchObject({ keptUp: true });
    // A backlog growing by 1 ms per order: the last quarter waits ~3 s longer than the first.
    const growing = judgeStep(step(timelines(4000, (i) => 50 + i)));
    expect(growing.keptUp).toBe(false);
    expect(growing.lagGrowthMs).toBeGreaterThan(keepUpRules.maxLagGrowthMs);
  });

  it("falls behind when calls fail, CreateOrder answers late, or an order is never shipped and mailed", () => {
    const t = timelines(100, () => 30);
    expect(judgeStep({ ...step(t), accepted: 99, rpcErrors: 1 })).toMatchObject({ keptUp: false, reason: "1 CreateOrder calls failed" });
    expect(judgeStep({ ...step(t), rpcP99Ms: keepUpRules.maxRpcP99Ms + 1 })).toMatchObject({ keptUp: false });
    expect(judgeStep(step(t.map((x, i) => (i === 7 ? { ...x, mailedMs: undefined } : x))))).toMatchObject({ keptUp: false, reason: "1 orders not shipped and mailed" });
  });
});
