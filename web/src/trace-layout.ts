import type { SpanJson } from "../../services/mesh/console-contract.js";

/** One bar of a trace's timeline. */
export interface TimelineRow {
  span: SpanJson;
  /** Nesting under its parent (or the span it links to): 0 for a root. */
  depth: number;
  /** Where the bar starts and how long it is, in percent of the whole trace. */
  offsetPct: number;
  widthPct: number;
  /** Placed under a span it only links to (a consumer linked to its producer, not parented). */
  linked: boolean;
}

/** A trace laid out as a timeline: spans in tree order (children after their parent, by start time). */
export interface TraceLayout {
  rows: TimelineRow[];
  startMs: number;
  durationMs: number;
}

// Narrower bars could not be seen or hovered.
const minWidthPct = 0.4;

/**
 * Orders a trace's spans as a tree: under its parent when the parent is in the trace, else under a
 * span of the trace it links to (OpenTelemetry's messaging conventions allow a consumer to link to the
 * producer instead of being its child), else as a root. Siblings go by start time.
 */
export function layoutTrace(spans: readonly SpanJson[]): TraceLayout {
  if (spans.length === 0) return { rows: [], startMs: 0, durationMs: 0 };
  const byId = new Map(spans.map((s) => [s.spanId, s]));
  const children = new Map<string, { span: SpanJson; linked: boolean }[]>();
  const roots: { span: SpanJson; linked: boolean }[] = [];
  for (const span of spans) {
    const parent = span.parentSpanId && byId.has(span.parentSpanId) ? span.parentSpanId : undefined;
    const link = parent ? undefined : span.links.find((l) => l.traceId === span.traceId && byId.has(l.spanId) && l.spanId !== span.spanId)?.spanId;
    const under = parent ?? link;
    const entry = { span, linked: !parent && link !== undefined };
    if (under) children.set(under, [...(children.get(under) ?? []), entry]);
    else roots.push(entry);
  }
  const byStart = (a: { span: SpanJson }, b: { span: SpanJson }) => a.span.startMs - b.span.startMs;
  const startMs = Math.min(...spans.map((s) => s.startMs));
  const durationMs = Math.max(...spans.map((s) => s.startMs + s.durationMs)) - startMs;
  const rows: TimelineRow[] = [];
  const placed = new Set<string>();
  // Depth first without recursion; a span placed once is never placed again, so a cycle of parents cannot loop.
  const stack = [...roots].sort(byStart).reverse().map((entry) => ({ ...entry, depth: 0 }));
  const place = (entry: { span: SpanJson; linked: boolean; depth: number }) => {
    if (placed.has(entry.span.spanId)) return;
    placed.add(entry.span.spanId);
    const offsetPct = durationMs > 0 ? ((entry.span.startMs - startMs) / durationMs) * 100 : 0;
    const widthPct = durationMs > 0 ? Math.max(minWidthPct, (entry.span.durationMs / durationMs) * 100) : 100;
    rows.push({ span: entry.span, depth: entry.depth, offsetPct, widthPct: Math.min(widthPct, 100 - offsetPct), linked: entry.linked });
    const kids = [...(children.get(entry.span.spanId) ?? [])].sort(byStart).reverse();
    for (const kid of kids) stack.push({ ...kid, depth: entry.depth + 1 });
  };
  while (stack.length > 0) place(stack.pop()!);
  // Spans only reachable through a cycle (malformed parents) are shown as roots rather than dropped.
  for (const span of [...spans].sort((a, b) => a.startMs - b.startMs)) {
    if (!placed.has(span.spanId)) stack.push({ span, linked: false, depth: 0 });
    while (stack.length > 0) place(stack.pop()!);
  }
  return { rows, startMs, durationMs };
}
