import type { SpanJson, TraceSummaryJson } from "../../services/mesh/console-contract.js";
import { button, el } from "./dom.js";
import { layoutTrace } from "./trace-layout.js";

/** The list of kept traces, newest first; Open shows one as a timeline. */
export function renderTraceList(rows: HTMLTableSectionElement, traces: readonly TraceSummaryJson[], selected: string | undefined, open: (traceId: string) => void): void {
  rows.replaceChildren(
    ...traces.map((t) => {
      const tr = el("tr");
      tr.dataset.traceId = t.traceId;
      tr.classList.toggle("selected", t.traceId === selected);
      tr.append(
        el("td", new Date(t.startMs).toLocaleTimeString()),
        el("td", [button(t.rootName || "(unnamed)", () => open(t.traceId), "link")]),
        el("td", t.services.join(", ")),
        el("td", String(t.spanCount)),
        el("td", formatDuration(t.durationMs)),
      );
      return tr;
    }),
  );
}

/** A trace as a timeline: one bar per span by start and duration, indented under its parent, service and kind beside it. */
export function renderTimeline(container: HTMLElement, spans: readonly SpanJson[]): void {
  const layout = layoutTrace(spans);
  container.replaceChildren(
    el("div", [el("span", "span"), el("span", "service · kind"), el("span", `0 – ${formatDuration(layout.durationMs)}`), el("span", "duration")], "timeline-head"),
    ...layout.rows.map((row) => {
      const { span } = row;
      const item = el("div", [], "span-row");
      item.setAttribute("role", "listitem");
      Object.assign(item.dataset, { spanId: span.spanId, service: span.service, kind: span.kind, depth: String(row.depth), name: span.name });
      const label = el("div", [el("span", span.name, "span-name")], "span-label");
      label.title = span.name;
      label.style.paddingLeft = `${Math.min(row.depth, 20) * 0.9}rem`;
      const where = el("div", `${span.service} · ${span.kind.toLowerCase()}${row.linked ? " · linked" : ""}`, "span-where muted");
      const bar = el("div", [], `span-bar kind-${span.kind.toLowerCase()}${span.status.code === "ERROR" ? " span-error" : ""}`);
      bar.style.left = `${row.offsetPct}%`;
      bar.style.width = `${row.widthPct}%`;
      bar.title = `${span.name} (${span.service}) ${formatDuration(span.durationMs)} at +${formatDuration(span.startMs - layout.startMs)}\n${describeAttributes(span)}`;
      const track = el("div", [bar], "span-track");
      item.append(label, where, track, el("div", formatDuration(span.durationMs), "span-duration muted"));
      return item;
    }),
  );
}

function describeAttributes(span: SpanJson): string {
  const lines = Object.entries(span.attributes).map(([key, value]) => `${key}=${String(value)}`);
  if (span.status.code === "ERROR") lines.unshift(`status ERROR ${span.status.message ?? ""}`);
  return lines.slice(0, 40).join("\n");
}

/** "850 µs", "12.3 ms", "1.52 s". */
export function formatDuration(ms: number): string {
  if (ms < 1) return `${Math.round(ms * 1000)} µs`;
  if (ms < 1000) return `${ms.toFixed(ms < 10 ? 1 : 0)} ms`;
  return `${(ms / 1000).toFixed(2)} s`;
}
