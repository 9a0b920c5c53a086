import { metricsOff, startService, type LogLine, type ServiceRun } from "../../services/mesh/service-runner.js";

export type { LogLine };

/** A compiled service running as a child process, with its parsed JSON logs (the launcher's runner, as tests use it). */
export interface ServiceProcess {
  /** Process id; undefined when the spawn failed. */
  pid: number | undefined;
  /** Whether it has not exited yet. */
  running(): boolean;
  /** Every stdout line that parsed as JSON, in order. */
  logs: LogLine[];
  /** Everything written to stdout and stderr (the last 256 KiB), for failure messages. */
  output(): string;
  /** Resolves with the exit code (or the signal that killed it). */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Waits for a log line matching the predicate and returns it. */
  waitForLog: ServiceRun["waitForLog"];
  /** Sends the signal if the process still runs and resolves when it is gone. */
  stop(signal?: NodeJS.Signals): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Sends the signal if the process still runs, without waiting. */
  signal(signal: NodeJS.Signals): void;
  /** Kills the process if it still runs (test cleanup). */
  kill(): void;
}

// Tests run many services at once (metricsOff): a test asks for a metrics port (a free one) when it scrapes.
// Tracing stays off unless a test asks for it (OTEL_SDK_DISABLED=false and an endpoint of its own, see
// tests/order-trace.test.ts): an OTEL_* variable of the machine running the tests must not make every
// service process export to it.
const tracingOff = { OTEL_SDK_DISABLED: "true" };

/** Starts `node dist/<script>` from the project root; fails clearly if the build is missing. */
export function startServiceProcess(script: string, env: Record<string, string>): ServiceProcess {
  const run = startService({
    name: /services\/([^/]+)\//.exec(script)?.[1] ?? script,
    script,
    env: { ...process.env, ...metricsOff, ...tracingOff, ...env },
    // Tests count lines (e.g. one replica's rpc lines under a load); keep them all.
    keepLogLines: 1_000_000,
    // An interrupted test run (Ctrl-C) takes its services with it.
    ownProcessGroup: false,
  });
  const signal = (s: NodeJS.Signals) => run.process.signalGroup(s);
  return {
    pid: run.process.pid,
    running: () => run.process.running,
    logs: run.logs,
    output: run.output,
    exited: run.exited.then(({ code, signal }) => ({ code, signal })),
    waitForLog: run.waitForLog,
    signal,
    stop(s = "SIGTERM") {
      signal(s);
      return this.exited;
    },
    kill: () => signal("SIGKILL"),
  };
}
