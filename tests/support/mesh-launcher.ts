import { spawn, type ChildProcess } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";

/** The `npm start` launcher (dist/services/mesh/main.js) running as a child of the test. */
export interface LauncherProcess {
  child: ChildProcess;
  /** Everything it printed so far (stdout and stderr). */
  output(): string;
  /** http://127.0.0.1:port of orders' Connect/gRPC-Web listener (the first replica's), from the ready banner. */
  ordersWebUrl: string;
  /** 127.0.0.1:port of orders' gRPC listener (the first replica's). */
  ordersGrpcAddr: string;
  /** URL of the web page (with ?api=), when the launcher serves it. */
  webPageUrl: string | undefined;
  /** URL of the operator console (/console on the page server), when the launcher serves the page. */
  consoleUrl: string | undefined;
  /** Pids of every process below the launcher right now (services, postgres and its backends, nats). */
  descendants(): number[];
  /** Sends signal and resolves with how the launcher exited. */
  stop(signal?: NodeJS.Signals): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Last resort for a failed test: SIGKILL the launcher and everything below it. */
  kill(): void;
}

const readyLine = "Ctrl-C stops everything";

/** Starts the compiled launcher with env (over isolatedEnv()) and waits for its ready banner. */
export async function startLauncher(env: NodeJS.ProcessEnv, options: { args?: string[]; timeoutMs?: number } = {}): Promise<LauncherProcess> {
  const child = spawn(process.execPath, ["dist/services/mesh/main.js", ...(options.args ?? [])], {
    env: { ...isolatedEnv(), NO_COLOR: "1", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.once("close", (code, signal) => resolve({ code, signal })));
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`launcher not ready after ${options.timeoutMs ?? 60_000} ms:\n${output}`)), options.timeoutMs ?? 60_000);
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      if (output.includes(readyLine)) {
        clearTimeout(timer);
        resolve();
      }
    };
    child.stdout.on("data", onData);
    child.stderr.on("data", onData);
    void exited.then((exit) => {
      clearTimeout(timer);
      reject(new Error(`launcher exited (${JSON.stringify(exit)}) before it was ready:\n${output}`));
    });
  });
  const ordersWeb = /\[mesh\]\s+orders(?:-1)?\s+gRPC (\S+), Connect\/gRPC-Web (http:\/\/[^\s,]+)/.exec(output);
  if (!ordersWeb?.[1] || !ordersWeb[2]) throw new Error(`no orders endpoints in the banner:\n${output}`);
  const page = /web page\s+(http:\/\/\S+)/.exec(output);
  const consoleLine = /\[mesh\]\s+console\s+(http:\/\/\S+)/.exec(output);
  const pid = child.pid ?? -1;
  return {
    child,
    output: () => output,
    ordersGrpcAddr: ordersWeb[1].replace(/,$/, ""),
    ordersWebUrl: ordersWeb[2],
    webPageUrl: page?.[1],
    consoleUrl: consoleLine?.[1],
    descendants: () => descendantsOf(pid),
    async stop(signal = "SIGINT") {
      child.kill(signal);
      return exited;
    },
    kill() {
      for (const p of [...descendantsOf(pid), pid]) {
        try {
          process.kill(p, "SIGKILL");
        } catch {
          // already gone
        }
      }
    },
  };
}

/** Every process below pid, from the parent links in /proc (Linux). */
export function descendantsOf(pid: number): number[] {
  const children = new Map<number, number[]>();
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      // The command name is in parentheses and may hold spaces; the parent pid is the 2nd field after it.
      const stat = readFileSync(`/proc/${entry}/stat`, "utf8");
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      children.set(ppid, [...(children.get(ppid) ?? []), Number(entry)]);
    } catch {
      // exited while we looked
    }
  }
  const found: number[] = [];
  const queue = [pid];
  while (queue.length > 0) {
    for (const child of children.get(queue.shift() ?? -1) ?? []) {
      found.push(child);
      queue.push(child);
    }
  }
  return found;
}

/** The pids that are still alive; a zombie is dead (only not yet reaped by whoever inherited it). */
export function stillRunning(pids: readonly number[]): number[] {
  return pids.filter((pid) => {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
      return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3) !== "Z";
    } catch {
      return false;
    }
  });
}


/** Every service and the web page on port 0, so launcher tests never take the map's default ports. */
export const ephemeralServicePorts = {
  ORDERS_PORT: "0",
  ORDERS_WEB_PORT: "0",
  SHIPPING_PORT: "0",
  SHIPPING_WEB_PORT: "0",
  NOTIFIER_PORT: "0",
  // Off the fixed defaults (9464-9466), which a developer's own mesh may hold. The launcher binds its
  // page server before the services start, so their port-0 listeners cannot take its port.
  ORDERS_METRICS_PORT: "0",
  SHIPPING_METRICS_PORT: "0",
  NOTIFIER_METRICS_PORT: "0",
  WEB_PORT: "0",
} as const;

/** process.env without the variables that would point the launcher at shared servers instead of its own. */
export function isolatedEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  for (const name of Object.keys(env)) {
    if (/_DATABASE_URL$|^DATABASE_URL$|^NATS_URL$|^EVENTS_|^SMTP_URL$|^EMAIL_DIR$|^SHIPPING_ADDR$|^MESH_|^AUTH_|^OTEL_|_PORT$/.test(name)) delete env[name];
  }
  return env;
}
