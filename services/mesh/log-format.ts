/** Formats one line of a process's output for the terminal (without the prefix). */
export type LineFormatter = (line: string, color: boolean) => string;

const levelNames: Record<number, string> = { 10: "TRACE", 20: "DEBUG", 30: "INFO", 40: "WARN", 50: "ERROR", 60: "FATAL" };
// pino's own bookkeeping and what the prefix already says.
const hiddenKeys = new Set(["level", "time", "pid", "hostname", "service", "name", "msg", "v"]);
const prefixColors = [36, 35, 33, 32, 34, 96, 95, 93];

/** Whether to write ANSI colours: NO_COLOR and FORCE_COLOR win, otherwise only on a terminal. */
export function shouldColor(stream: { isTTY?: boolean }, env: NodeJS.ProcessEnv = process.env): boolean {
  if (env.NO_COLOR !== undefined && env.NO_COLOR !== "") return false;
  if (env.FORCE_COLOR !== undefined && env.FORCE_COLOR !== "0") return true;
  return stream.isTTY === true;
}

/** Wraps text in an ANSI colour code when colour is on. */
export function paint(text: string, code: number, color: boolean): string {
  return color ? `\u001b[${code}m${text}\u001b[0m` : text;
}

/** The colour of a prefix, stable for a given position in the mesh. */
export function prefixColor(index: number): number {
  return prefixColors[index % prefixColors.length] ?? 36;
}

/** Turns a pino JSON line into `HH:MM:SS.mmm LEVEL msg key=value ...`; any other line passes through unchanged. */
export const formatPinoLine: LineFormatter = (line, color) => {
  if (!line.startsWith("{")) return line;
  let record: Record<string, unknown>;
  try {
    record = JSON.parse(line) as Record<string, unknown>;
  } catch {
    return line;
  }
  if (typeof record.level !== "number") return line;
  const time = typeof record.time === "number" ? new Date(record.time).toISOString().slice(11, 23) : "";
  const level = levelNames[record.level] ?? String(record.level);
  const fields = Object.entries(record)
    .filter(([key, value]) => !hiddenKeys.has(key) && value !== undefined)
    .map(([key, value]) => `${paint(key, 2, color)}=${formatValue(key, value)}`);
  const msg = typeof record.msg === "string" ? record.msg : "";
  const parts = [paint(time, 2, color), paintLevel(level, record.level, color), msg, ...fields].filter((p) => p !== "");
  return parts.join(" ");
};

/** Postgres stderr (`2025-01-01 10:00:00.000 UTC [42] LOG:  msg`) without the timestamp and pid the prefix makes redundant. */
export const formatPostgresLine: LineFormatter = (line, color) => {
  const text = line.replace(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(\.\d+)? \S+ \[\d+\] /, "");
  return /^(WARNING|ERROR|FATAL|PANIC):/.test(text) ? paint(text, 33, color) : text;
};

/** nats-server output (`[42] 2025/01/01 10:00:00.000000 [INF] msg`) without pid and timestamp. */
export const formatNatsLine: LineFormatter = (line, color) => {
  const text = line.replace(/^\[\d+\] \d{4}\/\d\d\/\d\d \d\d:\d\d:\d\d(\.\d+)? /, "");
  return /^\[(WRN|ERR|FTL)\]/.test(text) ? paint(text, 33, color) : text;
};

function paintLevel(name: string, level: number, color: boolean): string {
  const padded = name.padEnd(5);
  if (level >= 50) return paint(padded, 31, color);
  if (level >= 40) return paint(padded, 33, color);
  if (level >= 30) return paint(padded, 32, color);
  return paint(padded, 2, color);
}

function formatValue(key: string, value: unknown): string {
  // pino's err serializer gives {type, message, stack}; the message is what a reader needs on one line.
  if (key === "err" && value !== null && typeof value === "object" && "message" in value) {
    const err = value as { type?: unknown; message?: unknown };
    return JSON.stringify(`${typeof err.type === "string" ? err.type + ": " : ""}${String(err.message)}`);
  }
  if (typeof value === "string") return /^[^\s"=]+$/.test(value) ? value : JSON.stringify(value);
  return JSON.stringify(value);
}
