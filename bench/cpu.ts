import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";

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
