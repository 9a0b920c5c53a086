import { spawn, type ChildProcess } from "node:child_process";
import { existsSync } from "node:fs";
import { projectPath } from "../../services/platform/db/index.js";
import { waitFor } from "./wait-for.js";

/** One JSON log line of a service process (pino). */
export type LogLine = Record<string, unknown> & { msg?: string };

/** A compiled service running as a child process, with its parsed JSON logs. */
export interface ServiceProcess {
  child: ChildProcess;
  /** Every stdout line that parsed as JSON, in order. */
  logs: LogLine[];
  /** Everything written to stdout and stderr, for failure messages. */
  output(): string;
  /** Resolves with the exit code (or the signal that killed it). */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Waits for a log line matching the predicate and returns it. */
  waitForLog(match: (line: LogLine) => boolean, what: string, timeoutMs?: number): Promise<LogLine>;
  /** Sends the signal if the process still runs and resolves when it is gone. */
  stop(signal?: NodeJS.Signals): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Kills the process if it still runs (test cleanup). */
  kill(): void;
}

// Tests run many services at once: the fixed default metrics ports would collide, so a test asks for
// a metrics port (a free one) when it scrapes.
const metricsOff = { ORDERS_METRICS_PORT: "off", SHIPPING_METRICS_PORT: "off", NOTIFIER_METRICS_PORT: "off" };
// Tracing stays off unless a test asks for it (OTEL_SDK_DISABLED=false and an endpoint of its own, see
// tests/order-trace.test.ts): an OTEL_* variable of the machine running the tests must not make every
// service process export to it.
const tracingOff = { OTEL_SDK_DISABLED: "true" };

/** Starts `node dist/<script>` from the project root; fails clearly if the build is missing. */
export function startServiceProcess(script: string, env: Record<string, string>): ServiceProcess {
  const entry = projectPath(`dist/${script}`);
  if (!existsSync(entry)) {
    throw new Error(`${entry} is missing: process tests run the compiled service; run \`npm run build\` first (\`npm test\` does).`);
  }
  const child = spawn(process.execPath, [entry], { cwd: projectPath("."), env: { ...process.env, ...metricsOff, ...tracingOff, ...env }, stdio: ["ignore", "pipe", "pipe"] });
  const logs: LogLine[] = [];
  let output = "";
  let partial = "";
  child.stdout!.setEncoding("utf8").on("data", (chunk: string) => {
    output += chunk;
    const lines = (partial + chunk).split("\n");
    partial = lines.pop()!;
    for (const line of lines) {
      try {
        logs.push(JSON.parse(line) as LogLine);
      } catch {
        // Not every line must be JSON (a crash prints a stack trace); output() keeps it for the report.
      }
    }
  });
  child.stderr!.setEncoding("utf8").on("data", (chunk: string) => (output += chunk));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once("exit", (code, signal) => resolve({ code, signal })),
  );
  const running = () => child.exitCode === null && child.signalCode === null;
  // "close" comes after "exit" once stdout is drained, so every line the process printed is in logs by then.
  let closed = false;
  child.once("close", () => (closed = true));
  return {
    child,
    logs,
    output: () => output,
    exited,
    async waitForLog(match, what, timeoutMs = 15_000) {
      // Fails as soon as the process is gone instead of at the deadline: a crash at start is reported at once.
      const found = await waitFor(() => logs.find(match) ?? (closed ? "closed" : undefined), { what, timeoutMs });
      if (found === "closed") throw new Error(`process exited (${child.exitCode ?? child.signalCode}) before ${what}:\n${output}`);
      return found;
    },
    stop: (signal = "SIGTERM") => {
      if (running()) child.kill(signal);
      return exited;
    },
    kill: () => {
      if (running()) child.kill("SIGKILL");
    },
  };
}
