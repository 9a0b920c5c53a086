import { projectPath } from "../platform/db/index.js";
import { createPrinter } from "./log-output.js";
import { ManagedProcess } from "./managed-process.js";
import type { ServiceName } from "./mesh-config.js";

/** The ports a service reported in its "listening" log line (the real ones, also when asked for port 0). */
export interface ServiceEndpoints {
  grpcPort: number;
  webPort: number | undefined;
  /** The port of its GET /metrics, undefined when its *_METRICS_PORT is off (or it has none). */
  metricsPort?: number | undefined;
}

/** A compiled service (dist/services/<name>/main.js) running as a child process. */
export interface ChildService {
  name: ServiceName;
  process: ManagedProcess;
  /** Resolves once the service logged "listening"; rejects if it exits first. */
  ready: Promise<ServiceEndpoints>;
  /** SIGTERM, then wait for the service's own graceful shutdown (SIGKILL if it hangs). */
  stop(): Promise<void>;
}

// The services give in-flight calls 10 s to finish; a little more before SIGKILL.
const stopGraceMs = 15_000;

/** Starts one service with the given environment; its JSON logs are printed as readable prefixed lines. */
export function startChildService(name: ServiceName, env: NodeJS.ProcessEnv): ChildService {
  const child = new ManagedProcess({
    name,
    command: process.execPath,
    args: [projectPath(`dist/services/${name}/main.js`)],
    cwd: projectPath("."),
    env,
    print: createPrinter(name),
  });
  // A service logs "metrics listening" before "listening", so one matcher collects both.
  let metricsPort: number | undefined;
  const ready = child.waitForLine((line) => {
    metricsPort ??= parseMetricsListening(line);
    const endpoints = parseListening(line);
    return endpoints && { ...endpoints, metricsPort };
  }, 'logging "listening"');
  // Handled by whoever awaits it; this keeps an early exit from also being an unhandled rejection.
  ready.catch(() => {});
  return { name, process: child, ready, stop: async () => void (await child.stop("SIGTERM", stopGraceMs)) };
}

/** The ports of a pino `{"msg":"listening","grpcPort":N,"webPort":M}` line, undefined for any other line. */
export function parseListening(line: string): ServiceEndpoints | undefined {
  if (!line.startsWith("{")) return undefined;
  try {
    const record = JSON.parse(line) as { msg?: unknown; grpcPort?: unknown; webPort?: unknown };
    if (record.msg !== "listening" || typeof record.grpcPort !== "number") return undefined;
    return { grpcPort: record.grpcPort, webPort: typeof record.webPort === "number" ? record.webPort : undefined };
  } catch {
    return undefined;
  }
}

/** The port of a pino `{"msg":"metrics listening","metrics":"http://host:N/metrics"}` line, undefined for any other line. */
export function parseMetricsListening(line: string): number | undefined {
  if (!line.startsWith("{")) return undefined;
  try {
    const record = JSON.parse(line) as { msg?: unknown; metrics?: unknown };
    if (record.msg !== "metrics listening" || typeof record.metrics !== "string") return undefined;
    const port = Number(new URL(record.metrics).port);
    return Number.isInteger(port) && port > 0 ? port : undefined;
  } catch {
    return undefined;
  }
}
