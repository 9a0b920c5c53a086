import { execFileSync } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";

// utime/stime in /proc/<pid>/stat count clock ticks; 100 per second on every common Linux build.
const ticksPerSecond = (() => {
  try {
    return Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim()) || 100;
  } catch {
    return 100;
  }
})();

/** CPU time (user + system) a process has used so far, in microseconds. */
export function cpuMicros(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  // The command name (field 2) may contain spaces and parentheses: split after its closing ')'.
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  const utime = Number(fields[11]);
  const stime = Number(fields[12]);
  return ((utime + stime) * 1_000_000) / ticksPerSecond;
}

/** Resident set size of a process in bytes (VmRSS). */
export function rssBytes(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const kb = /^VmRSS:\s+(\d+)\s+kB/m.exec(status)?.[1];
  return kb === undefined ? 0 : Number(kb) * 1024;
}

/** CPU used by named processes between start() and the returned stop(): µs per process. */
export function measureCpu(pids: Record<string, number>): () => Record<string, number> {
  const before = Object.fromEntries(Object.entries(pids).map(([name, pid]) => [name, cpuMicros(pid)]));
  return () => Object.fromEntries(Object.entries(pids).map(([name, pid]) => [name, cpuMicros(pid) - before[name]!]));
}

/** Server CPU µs per call: each process's CPU delta divided by the calls, plus their total. */
export function cpuPerCall(deltas: Record<string, number>, calls: number): { total: number; byProcess: Record<string, number> } {
  const per = (us: number) => (calls > 0 ? Math.round(us / calls) : 0);
  const byProcess = Object.fromEntries(Object.entries(deltas).map(([name, us]) => [name, per(us)]));
  return { total: per(Object.values(deltas).reduce((a, b) => a + b, 0)), byProcess };
}

/** Busy CPU time of the whole machine so far, all cores (user, nice, system, irq, softirq; not steal), in µs. */
export function machineBusyMicros(): number {
  const [, ...fields] = readFileSync("/proc/stat", "utf8").slice(0, 200).split("\n", 1)[0]!.trim().split(/\s+/);
  const [user, nice, system, , , irq, softirq] = fields.map(Number);
  return ((user! + nice! + system! + irq! + softirq!) * 1_000_000) / ticksPerSecond;
}

/** CPU so far of every process whose command name is `comm` (e.g. all PostgreSQL backends), µs by pid. */
export function cpuByCommand(comm: string): Map<number, number> {
  const found = new Map<number, number>();
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (readFileSync(`/proc/${entry}/comm`, "utf8").trim() === comm) found.set(Number(entry), cpuMicros(Number(entry)));
    } catch {
      // The process ended while we looked.
    }
  }
  return found;
}

/**
 * CPU of the whole machine and of the shared servers the mesh leans on (PostgreSQL, nats-server), the
 * load generator and this process, between start() and the returned stop(): what the two cores actually spent.
 * A backend that starts during the window counts from zero; one that ends inside it is missed.
 */
export function measureMachine(loadGeneratorPid: number | undefined): () => Record<string, number> {
  const groups = { postgres: "postgres", "nats-server": "nats-server" } as const;
  const before = Object.fromEntries(Object.entries(groups).map(([name, comm]) => [name, cpuByCommand(comm)]));
  const genBefore = loadGeneratorPid === undefined ? 0 : cpuMicros(loadGeneratorPid);
  const benchBefore = cpuMicros(process.pid);
  const machineBefore = machineBusyMicros();
  return () => {
    const out: Record<string, number> = { machine: machineBusyMicros() - machineBefore };
    for (const [name, comm] of Object.entries(groups)) {
      let sum = 0;
      for (const [pid, us] of cpuByCommand(comm)) {
        const spent = us - (before[name]!.get(pid) ?? 0);
        sum += spent;
        // PostgreSQL's share by database (the backend's title names it): "postgres orders" for bench_orders_<run>.
        if (name === "postgres") {
          const key = `postgres ${backendDatabase(pid) ?? "(server processes)"}`;
          out[key] = (out[key] ?? 0) + spent;
        }
      }
      out[name] = sum;
    }
    if (loadGeneratorPid !== undefined) out["load generator"] = cpuMicros(loadGeneratorPid) - genBefore;
    // This process: the SMTP receiver taking every email, and the polls that wait for the event side.
    out["bench process"] = cpuMicros(process.pid) - benchBefore;
    return out;
  };
}

/** The database a PostgreSQL backend serves, from its process title ("postgres: 15/main: <user> <db> <client> <state>"). */
function backendDatabase(pid: number): string | undefined {
  try {
    const title = readFileSync(`/proc/${pid}/cmdline`, "utf8").replace(/\0/g, " ");
    return /^postgres: [^:]+: \S+ (\S+) \S+\(\d+\)/.exec(title)?.[1]?.replace(/^bench_([a-z]+)_\w+$/, "$1");
  } catch {
    return undefined;
  }
}
