import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { LatencySummary } from "./histogram.js";

/** A measured figure's bound: what the physical limit (bare transport, database, broker) achieved. */
export interface Ceiling {
  /** e.g. "bare http2", "pgbench", "JetStream publish". */
  name: string;
  throughput: number;
  cpuUsPerOp?: number | undefined;
}

/** A target of issue 5 and whether this run met it. */
export interface TargetCheck {
  text: string;
  met: boolean;
}

/** One line of the results table. */
export interface ResultRow {
  scenario: string;
  /** Concurrency ("c=16") or arrival rate ("500/s"). */
  load: string;
  /** Successful operations per second. */
  throughput: number;
  latency: LatencySummary | undefined;
  /** Failures by gRPC code (or by stage for the event flow). */
  errors: Record<string, number>;
  /** Server CPU µs per operation, all measured processes together. */
  cpuUsPerOp?: number | undefined;
  /** The same figure per process, for the JSON. */
  cpuByProcess?: Record<string, number> | undefined;
  /** µs per operation of the whole machine (all cores busy, load generator and servers included). */
  machineCpuUsPerOp?: number | undefined;
  /** µs per operation of PostgreSQL, nats-server and the load generator, for the JSON. */
  sharedCpuByProcess?: Record<string, number> | undefined;
  ceiling?: Ceiling | undefined;
  /** throughput / ceiling.throughput. */
  ratio?: number | undefined;
  target?: TargetCheck | undefined;
  note?: string | undefined;
}

/** Everything one run produced, as written to bench/results/<timestamp>.json. */
export interface BenchReport {
  startedAt: string;
  finishedAt: string;
  quick: boolean;
  machine: { cpus: number; loadAvgBefore: number[]; loadAvgAfter: number[]; node: string };
  rows: ResultRow[];
  /** RSS samples of the soak, bytes per service per sample. */
  soak?: { intervalMs: number; samples: Array<Record<string, number>>; flat: Record<string, boolean> } | undefined;
  notes: string[];
  /** Tables of their own that scenarios add below the results (e.g. telemetry cost by mode). */
  sections?: ReportSection[] | undefined;
}

/** A titled markdown table a scenario adds to the report. */
export interface ReportSection {
  title: string;
  /** Markdown: a table, and lines under it. */
  markdown: string;
}

/** A number with thousands separators and fixed digits, or "–" when there is none. */
export const fmt = (n: number | undefined, digits = 0) =>
  n === undefined || !Number.isFinite(n) ? "–" : n.toLocaleString("en-US", { maximumFractionDigits: digits, minimumFractionDigits: digits });

/** The total of an errors-by-code record. */
export function errorCount(errors: Record<string, number>): number {
  return Object.values(errors).reduce((a, b) => a + b, 0);
}

/** Errors as "0" or "Unavailable:3 DeadlineExceeded:1". */
export function formatErrors(errors: Record<string, number>): string {
  const entries = Object.entries(errors).filter(([, n]) => n > 0);
  return entries.length === 0 ? "0" : entries.map(([code, n]) => `${code}:${n}`).join(" ");
}

/** The table as GitHub markdown: each result beside its ceiling and the ratio. */
export function formatTable(rows: readonly ResultRow[]): string {
  const header = ["scenario", "load", "ops/s", "p50 ms", "p99 ms", "p99.9 ms", "max ms", "errors", "CPU µs/op", "machine µs/op", "ceiling", "ceiling ops/s", "ratio", "target"];
  const lines = rows.map((r) => [
    r.scenario,
    r.load,
    fmt(r.throughput),
    fmt(r.latency?.p50Ms, 2),
    fmt(r.latency?.p99Ms, 2),
    fmt(r.latency?.p999Ms, 2),
    fmt(r.latency?.maxMs, 1),
    formatErrors(r.errors),
    fmt(r.cpuUsPerOp),
    fmt(r.machineCpuUsPerOp),
    r.ceiling?.name ?? "",
    r.ceiling ? fmt(r.ceiling.throughput) : "",
    r.ratio === undefined ? "" : `${fmt(r.ratio * 100, 0)}%`,
    r.target ? `${r.target.met ? "met" : "MISSED"}: ${r.target.text}` : "",
  ]);
  return markdownTable(header, lines);
}

/** A GitHub markdown table of a header row and body rows. */
export function markdownTable(header: readonly string[], lines: ReadonlyArray<readonly string[]>): string {
  return [header, header.map(() => "---"), ...lines].map((cells) => `| ${cells.join(" | ")} |`).join("\n");
}

/** The RSS samples of the soak as a markdown table in MiB. */
export function formatSoak(soak: NonNullable<BenchReport["soak"]>): string {
  const services = Object.keys(soak.samples[0] ?? {});
  const header = ["t (s)", ...services.map((s) => `${s} RSS MiB`)];
  const lines = soak.samples.map((s, i) => [String(((i * soak.intervalMs) / 1000).toFixed(0)), ...services.map((name) => fmt((s[name] ?? 0) / 2 ** 20, 1))]);
  const flat = ["flat?", ...services.map((s) => (soak.flat[s] ? "yes" : "NO"))];
  return markdownTable(header, [...lines, flat]);
}

/** The whole report as markdown. */
export function formatMarkdown(report: BenchReport): string {
  const parts = [
    `# ordermesh benchmark ${report.startedAt}${report.quick ? " (quick)" : ""}`,
    "",
    `Machine: ${report.machine.cpus} CPUs, Node ${report.machine.node}, load average before ${report.machine.loadAvgBefore.map((l) => l.toFixed(2)).join(" ")}, after ${report.machine.loadAvgAfter.map((l) => l.toFixed(2)).join(" ")}.`,
    "",
    formatTable(report.rows),
  ];
  for (const section of report.sections ?? []) parts.push("", `## ${section.title}`, "", section.markdown);
  if (report.soak) parts.push("", "## Soak RSS", "", formatSoak(report.soak));
  if (report.notes.length > 0) parts.push("", "## Notes", "", ...report.notes.map((n) => `- ${n}`));
  return parts.join("\n") + "\n";
}

/** Writes bench/results/<timestamp>.json and .md; returns their paths. */
export function writeReport(dir: string, report: BenchReport): { json: string; md: string } {
  mkdirSync(dir, { recursive: true });
  const stamp = report.startedAt.replace(/[:]/g, "-").replace(/\.\d+Z$/, "Z");
  const json = join(dir, `${stamp}${report.quick ? "-quick" : ""}.json`);
  const md = join(dir, `${stamp}${report.quick ? "-quick" : ""}.md`);
  writeFileSync(json, JSON.stringify(report, null, 2) + "\n");
  writeFileSync(md, formatMarkdown(report));
  return { json, md };
}

/** Whether a series of RSS samples stays flat: the last third's peak within 20% (+16 MiB) of the first half's peak. */
export function isFlat(samples: readonly number[]): boolean {
  if (samples.length < 3) return true;
  const half = samples.slice(0, Math.ceil(samples.length / 2));
  const lastThird = samples.slice(-Math.max(1, Math.floor(samples.length / 3)));
  return Math.max(...lastThird) <= Math.max(...half) * 1.2 + 16 * 2 ** 20;
}
