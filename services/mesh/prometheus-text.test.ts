import { Counter, Gauge, Histogram, Registry } from "prom-client";
import { describe, expect, it } from "vitest";
import { parsePrometheusText } from "./prometheus-text.js";

describe("parsePrometheusText", () => {
  it("reads what prom-client serves: labelled gauges and counters, escaped label values, histogram series", async () => {
    const registry = new Registry();
    const gauge = new Gauge({ name: "ordermesh_consumer_pending", help: "h", labelNames: ["stream", "consumer"], registers: [registry] });
    gauge.set({ stream: "ORDERS", consumer: "notifier" }, 7);
    gauge.set({ stream: 'quote"d', consumer: "back\\slash\nnewline" }, 0.25);
    new Counter({ name: "ordermesh_consumer_dead_lettered_total", help: "h", labelNames: ["stream", "consumer"], registers: [registry] }).inc({ stream: "ORDERS", consumer: "notifier" }, 3);
    new Histogram({ name: "ordermesh_rpc_server_duration_seconds", help: "h", labelNames: ["method"], registers: [registry] }).observe({ method: "CreateOrder" }, 0.01);
    new Gauge({ name: "ordermesh_health_serving", help: "h", registers: [registry] }).set(1);

    const samples = parsePrometheusText(await registry.metrics());
    expect(samples).toContainEqual({ name: "ordermesh_consumer_pending", labels: { stream: "ORDERS", consumer: "notifier" }, value: 7 });
    expect(samples).toContainEqual({ name: "ordermesh_consumer_pending", labels: { stream: 'quote"d', consumer: "back\\slash\nnewline" }, value: 0.25 });
    expect(samples).toContainEqual({ name: "ordermesh_consumer_dead_lettered_total", labels: { stream: "ORDERS", consumer: "notifier" }, value: 3 });
    expect(samples).toContainEqual({ name: "ordermesh_health_serving", labels: {}, value: 1 });
    expect(samples).toContainEqual({ name: "ordermesh_rpc_server_duration_seconds_bucket", labels: { le: "+Inf", method: "CreateOrder" }, value: 1 });
  });

  it("keeps only the wanted names, and reads special values and timestamps", () => {
    const text = ["# HELP a x", "# TYPE a gauge", "a NaN", "b{x=\"1\"} +Inf 1700000000000", "c -Inf", "d 1.5e3", ""].join("\n");
    const samples = parsePrometheusText(text, new Set(["b", "d"]));
    expect(samples).toEqual([
      { name: "b", labels: { x: "1" }, value: Number.POSITIVE_INFINITY },
      { name: "d", labels: {}, value: 1500 },
    ]);
    expect(Number.isNaN(parsePrometheusText("a NaN")[0]!.value)).toBe(true);
  });

  it("refuses lines that are not samples, naming the line", () => {
    expect(() => parsePrometheusText("a 1\n{x=\"1\"} 2")).toThrow(/line 2: no metric name/);
    expect(() => parsePrometheusText('a{x="1" 2')).toThrow(/line 1: malformed labels/);
    expect(() => parsePrometheusText('a{x="\\q"} 2')).toThrow(/malformed labels/);
    expect(() => parsePrometheusText("a one")).toThrow(/"one" is not a sample value/);
    expect(() => parsePrometheusText("<html>")).toThrow(/line 1/);
  });
});
