import { describe, expect, it } from "vitest";
import type { SpanJson } from "../services/mesh/console-contract.js";
import { layoutTrace } from "../web/src/trace-layout.js";

// The console's trace timeline is laid out by plain code; the page itself is driven in tests/console.test.ts.
const trace = "0af7651916cd43dd8448eb211c80319c";
function span(spanId: string, startMs: number, durationMs: number, more: Partial<SpanJson> = {}): SpanJson {
  return { traceId: trace, spanId, name: spanId, kind: "INTERNAL", service: "orders", startMs, durationMs, attributes: {}, links: [], status: { code: "UNSET", message: "" }, ...more };
}

describe("console trace layout", () => {
  it("puts children after their parent by start time, indented, with bars in percent of the trace", () => {
    const spans = [span("b", 1010, 20, { parentSpanId: "a" }), span("a", 1000, 100), span("c", 1005, 5, { parentSpanId: "a" }), span("d", 1012, 2, { parentSpanId: "b" })];
    const layout = layoutTrace(spans);
    expect(layout.startMs).toBe(1000);
    expect(layout.durationMs).toBe(100);
    expect(layout.rows.map((r) => [r.span.spanId, r.depth])).toEqual([["a", 0], ["c", 1], ["b", 1], ["d", 2]]);
    expect(layout.rows[0]).toMatchObject({ offsetPct: 0, widthPct: 100 });
    expect(layout.rows[2]).toMatchObject({ offsetPct: 10, widthPct: 20 });
    // Too short to see: still a visible sliver.
    expect(layout.rows[3]!.widthPct).toBeCloseTo(2);
  });

  it("places a consumer under the producer it links to when it is not its child, and marks it linked", () => {
    const spans = [span("publish", 0, 10, { kind: "PRODUCER" }), span("consume", 50, 10, { kind: "CONSUMER", links: [{ traceId: trace, spanId: "publish" }] })];
    const rows = layoutTrace(spans).rows;
    expect(rows.map((r) => [r.span.spanId, r.depth, r.linked])).toEqual([["publish", 0, false], ["consume", 1, true]]);
  });

  it("shows spans whose parent is missing as roots, and spans of a parent cycle exactly once", () => {
    const rows = layoutTrace([span("orphan", 5, 1, { parentSpanId: "gone" }), span("x", 0, 1, { parentSpanId: "y" }), span("y", 1, 1, { parentSpanId: "x" })]).rows;
    expect(rows.map((r) => r.span.spanId).sort()).toEqual(["orphan", "x", "y"]);
    expect(rows.find((r) => r.span.spanId === "orphan")!.depth).toBe(0);
    expect(layoutTrace([]).rows).toEqual([]);
  });
});
