/** One sample of the Prometheus text exposition format. */
export interface PrometheusSample {
  /** The series name as written, e.g. ordermesh_outbox_backlog or ..._bucket. */
  name: string;
  /** Its labels, unescaped. */
  labels: Record<string, string>;
  /** The value; NaN and ±Infinity as Prometheus writes them. */
  value: number;
}

const namePattern = /^[a-zA-Z_:][a-zA-Z0-9_:]*/;
const labelNamePattern = /^[a-zA-Z_][a-zA-Z0-9_]*/;

/**
 * Parses the samples of Prometheus text format 0.0.4 (what prom-client serves), keeping only the metric
 * names in `wanted` when given. Written here rather than taken from npm: the one parser there has not
 * been released since 2019, and the console reads a handful of gauges and counters. Throws on a line
 * that is not a comment, blank, or a sample.
 */
export function parsePrometheusText(text: string, wanted?: ReadonlySet<string>): PrometheusSample[] {
  const samples: PrometheusSample[] = [];
  const lines = text.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!.trim();
    if (line === "" || line.startsWith("#")) continue;
    const name = namePattern.exec(line)?.[0];
    if (!name) throw new Error(`metrics line ${i + 1}: no metric name`);
    if (wanted && !wanted.has(name)) continue;
    let rest = line.slice(name.length);
    const labels: Record<string, string> = {};
    if (rest.startsWith("{")) {
      const parsed = parseLabels(rest);
      if (!parsed) throw new Error(`metrics line ${i + 1}: malformed labels`);
      Object.assign(labels, parsed.labels);
      rest = parsed.rest;
    }
    // The value, then an optional timestamp in milliseconds, which the console has no use for.
    const valueText = rest.trim().split(/\s+/)[0] ?? "";
    const value = parseValue(valueText);
    if (value === undefined) throw new Error(`metrics line ${i + 1}: "${valueText.slice(0, 40)}" is not a sample value`);
    samples.push({ name, labels, value });
  }
  return samples;
}

/** Reads `{a="x",b="y"}` at the start of text; undefined when it is malformed. */
function parseLabels(text: string): { labels: Record<string, string>; rest: string } | undefined {
  const labels: Record<string, string> = {};
  let at = 1;
  for (;;) {
    while (text[at] === " ") at++;
    if (text[at] === "}") return { labels, rest: text.slice(at + 1) };
    const name = labelNamePattern.exec(text.slice(at))?.[0];
    if (!name) return undefined;
    at += name.length;
    if (text.slice(at, at + 2) !== '="') return undefined;
    at += 2;
    let value = "";
    for (;;) {
      const c = text[at];
      if (c === undefined) return undefined;
      at++;
      if (c === '"') break;
      if (c === "\\") {
        const escaped = text[at++];
        if (escaped === "n") value += "\n";
        else if (escaped === "\\" || escaped === '"') value += escaped;
        else return undefined;
      } else value += c;
    }
    labels[name] = value;
    while (text[at] === " ") at++;
    if (text[at] === ",") at++;
    else if (text[at] !== "}") return undefined;
  }
}

function parseValue(text: string): number | undefined {
  if (text === "NaN") return Number.NaN;
  if (text === "+Inf" || text === "Inf") return Number.POSITIVE_INFINITY;
  if (text === "-Inf") return Number.NEGATIVE_INFINITY;
  if (!/^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(text)) return undefined;
  return Number(text);
}
