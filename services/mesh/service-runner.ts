import { existsSync, mkdirSync } from "node:fs";
import type * as grpc from "@grpc/grpc-js";
import { projectPath } from "../platform/db/index.js";
import { probeHealth } from "../platform/rpc/index.js";
import type { LinePrinter } from "./log-output.js";
import { describeExit, ManagedProcess, type ProcessExit } from "./managed-process.js";

/** One JSON log line of a service (pino). */
export type LogLine = Record<string, unknown> & { msg?: string };

/** The ports a service reported in its "listening" log line (the real ones, also when asked for port 0). */
export interface ServiceEndpoints {
  grpcPort: number;
  webPort: number | undefined;
  /** The port of its GET /metrics, undefined when its *_METRICS_PORT is off (or it has none). */
  metricsPort?: number | undefined;
}

/** The environment that turns every service's /metrics port off (runs of many processes at once, whose fixed default ports would collide). */
export const metricsOff: Readonly<Record<string, string>> = { ORDERS_METRICS_PORT: "off", SHIPPING_METRICS_PORT: "off", NOTIFIER_METRICS_PORT: "off" };

/** What to run: a compiled service of dist/ and how. */
export interface ServiceRunOptions {
  /** Name in messages, e.g. "orders" or "shipping-2". */
  name: string;
  /** The entry under dist/, e.g. services/orders/main.js. */
  script: string;
  /** The whole environment of the process (nothing is inherited beyond it). */
  env: NodeJS.ProcessEnv;
  /** Receives every output line as printed; default: none are printed. */
  print?: LinePrinter;
  /** Runs under `node --cpu-prof`, writing <name>-<time>.cpuprofile into this folder. */
  cpuProfileDir?: string | undefined;
  /** How many parsed log lines to keep (the oldest go first); default 10,000. */
  keepLogLines?: number;
  /** See ManagedProcessOptions.ownProcessGroup; default true. */
  ownProcessGroup?: boolean;
}

/** A compiled service running as a child process. */
export interface ServiceRun {
  name: string;
  process: ManagedProcess;
  /** The JSON log lines it wrote, in order, at most keepLogLines of the latest. */
  logs: LogLine[];
  /** The last 256 KiB it wrote (stdout and stderr), for failure messages. */
  output(): string;
  /** Resolves with the ports of its "listening" line (and its metrics port); rejects if it exits first. */
  ready: Promise<ServiceEndpoints>;
  /** Resolves once the process has exited and its output is read. */
  exited: Promise<ProcessExit>;
  /** The first log line (kept or still to come) matching; rejects when the process exits first or after timeoutMs (default 15 s; Infinity: no deadline). */
  waitForLog(match: (line: LogLine) => boolean, what: string, timeoutMs?: number): Promise<LogLine>;
  /** Polls grpc.health.v1 Check on address until SERVING (for runs at LOG_LEVEL=warn, which print no "listening"). */
  waitServing(address: string, options?: { timeoutMs?: number; credentials?: grpc.ChannelCredentials }): Promise<void>;
  /** graceful: SIGTERM and the service's own drain (SIGKILL if it hangs); crash: SIGKILL. Resolves on exit. */
  stop(how?: "graceful" | "crash"): Promise<ProcessExit>;
}

// The services give in-flight calls SHUTDOWN_GRACE_MS (10 s) to finish; a little more before SIGKILL.
const stopGraceMs = 15_000;
const outputLimit = 256 * 1024;

/** Starts `node dist/<script>` from the project root; fails at once, naming the fix, when the build is missing. */
export function startService(options: ServiceRunOptions): ServiceRun {
  const entry = projectPath(`dist/${options.script}`);
  if (!existsSync(entry)) throw new Error(`${entry} is missing: run \`npm run build\` first`);
  const args = [entry];
  if (options.cpuProfileDir) {
    mkdirSync(options.cpuProfileDir, { recursive: true });
    args.unshift("--cpu-prof", `--cpu-prof-dir=${options.cpuProfileDir}`, `--cpu-prof-name=${options.name}-${Date.now()}.cpuprofile`);
  }
  const keep = options.keepLogLines ?? 10_000;
  const logs: LogLine[] = [];
  const listeners = new Set<(line: LogLine) => void>();
  // The output's last lines, at most outputLimit characters: a chatty service must not grow the launcher.
  const outputLines: string[] = [];
  let outputChars = 0;
  const output = () => outputLines.join("\n");
  // A service logs "metrics listening" before "listening"; kept apart from the bounded logs.
  let metricsPort: number | undefined;
  const child = new ManagedProcess({
    name: options.name,
    command: process.execPath,
    args,
    cwd: projectPath("."),
    env: options.env,
    ownProcessGroup: options.ownProcessGroup,
    print: (text) => {
      outputLines.push(text);
      outputChars += text.length + 1;
      while (outputChars > outputLimit && outputLines.length > 1) outputChars -= outputLines.shift()!.length + 1;
      options.print?.(text);
      const line = parseLogLine(text);
      if (!line) return;
      metricsPort ??= parseMetricsListening(line);
      logs.push(line);
      if (logs.length > keep) logs.splice(0, logs.length - keep);
      listeners.forEach((listener) => listener(line));
    },
  });
  const failure = (exit: ProcessExit, what: string) => new Error(`${options.name} ${describeExit(exit)} before ${what}:\n${outputLines.slice(-20).join("\n")}`);

  const waitForLog = (match: (line: LogLine) => boolean, what: string, timeoutMs = 15_000) =>
    new Promise<LogLine>((resolve, reject) => {
      const kept = logs.find(match);
      if (kept) return resolve(kept);
      const done = () => {
        listeners.delete(listener);
        clearTimeout(timer);
      };
      const listener = (line: LogLine) => {
        if (!match(line)) return;
        done();
        resolve(line);
      };
      const timer = Number.isFinite(timeoutMs)
        ? setTimeout(() => (done(), reject(new Error(`${options.name}: timed out after ${timeoutMs} ms waiting for ${what}`))), timeoutMs)
        : undefined;
      listeners.add(listener);
      void child.exited.then((exit) => {
        if (!listeners.has(listener)) return;
        done();
        reject(failure(exit, what));
      });
    });

  const ready = waitForLog((line) => parseListening(line) !== undefined, 'logging "listening"', Infinity).then((line) => ({ ...parseListening(line)!, metricsPort }));
  // Handled by whoever awaits it; this keeps an early exit from also being an unhandled rejection.
  ready.catch(() => {});

  return {
    name: options.name,
    process: child,
    logs,
    output,
    ready,
    exited: child.exited,
    waitForLog,
    async waitServing(address, { timeoutMs = 30_000, credentials } = {}) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        if (!child.running) throw failure(await child.exited, "SERVING");
        if ((await probeHealth(address, "", 1000, credentials)) === "SERVING") return;
        if (Date.now() > deadline) throw new Error(`${options.name} not SERVING on ${address} after ${timeoutMs} ms`);
        await new Promise((r) => setTimeout(r, 100));
      }
    },
    stop: (how = "graceful") => (how === "crash" ? child.stop("SIGKILL", 0) : child.stop("SIGTERM", stopGraceMs)),
  };
}

/** The line as a pino record, undefined when it is not JSON (a crash's stack trace, a warning of node's). */
export function parseLogLine(text: string): LogLine | undefined {
  if (!text.startsWith("{")) return undefined;
  try {
    const value: unknown = JSON.parse(text);
    return typeof value === "object" && value !== null && !Array.isArray(value) ? (value as LogLine) : undefined;
  } catch {
    return undefined;
  }
}

/** The ports of a `{"msg":"listening","grpcPort":N,"webPort":M}` record, undefined for any other. */
export function parseListening(line: LogLine): Omit<ServiceEndpoints, "metricsPort"> | undefined {
  if (line.msg !== "listening" || typeof line.grpcPort !== "number") return undefined;
  return { grpcPort: line.grpcPort, webPort: typeof line.webPort === "number" ? line.webPort : undefined };
}

/** The port of a `{"msg":"metrics listening","metrics":"http://host:N/metrics"}` record, undefined for any other. */
export function parseMetricsListening(line: LogLine): number | undefined {
  if (line.msg !== "metrics listening" || typeof line.metrics !== "string") return undefined;
  try {
    const port = Number(new URL(line.metrics).port);
    return Number.isInteger(port) && port > 0 ? port : undefined;
  } catch {
    return undefined;
  }
}
