import { fork, type ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";

/** What each call sends. */
export type Workload =
  /** GetOrder, cycling through existing order ids. */
  | { kind: "getOrder"; ids: string[] }
  /** CreateOrder with a fresh request_id per call, all for one customer (the run's tag). */
  | { kind: "createOrder"; customerId: string };

/** How calls are paced. */
export type LoadMode =
  /** `concurrency` callers, each sending its next call when the previous one answered. */
  | { kind: "closed"; concurrency: number; durationMs: number }
  /** Calls at a fixed rate whatever the answers; latency counts from each call's intended send time. */
  | { kind: "open"; ratePerSec: number; durationMs: number };

/** One run of the load generator. */
export interface LoadSpec {
  /** http://127.0.0.1:port of the gRPC server. */
  target: string;
  workload: Workload;
  mode: LoadMode;
  /** Deadline of each call. */
  timeoutMs?: number;
  /** Request headers of every call, e.g. authorization. */
  headers?: Record<string, string>;
}

/** What one run measured. */
export interface LoadResult {
  /** Calls answered (OK or not). */
  calls: number;
  ok: number;
  /** Failed calls by gRPC code name, e.g. { Unavailable: 3 }. */
  errors: Record<string, number>;
  elapsedMs: number;
  /** OK calls per second. */
  throughput: number;
  /** Encoded HDR histogram of every call's latency in µs (see histogram.ts). */
  histogram: string;
}

/** The load generator child process, reused for every run of a benchmark. */
export interface LoadGenerator {
  pid: number;
  run(spec: LoadSpec): Promise<LoadResult>;
  close(): Promise<void>;
}

type Reply = { id: number; result: LoadResult } | { id: number; error: string };

/** Forks bench/load-generator.js: load comes from its own process, so it never shares an event loop with the servers. */
export function forkLoadGenerator(): LoadGenerator {
  const child: ChildProcess = fork(fileURLToPath(new URL("./load-generator.js", import.meta.url)), [], { stdio: ["ignore", "inherit", "inherit", "ipc"] });
  const pending = new Map<number, { resolve: (r: LoadResult) => void; reject: (e: Error) => void }>();
  let next = 0;
  child.on("message", (raw) => {
    const reply = raw as Reply;
    const waiter = pending.get(reply.id);
    pending.delete(reply.id);
    if ("result" in reply) waiter?.resolve(reply.result);
    else waiter?.reject(new Error(`load generator: ${reply.error}`));
  });
  child.on("exit", (code) => {
    for (const w of pending.values()) w.reject(new Error(`load generator exited with ${code}`));
    pending.clear();
  });
  return {
    pid: child.pid!,
    run(spec) {
      const id = next++;
      return new Promise((resolve, reject) => {
        pending.set(id, { resolve, reject });
        child.send({ id, spec });
      });
    },
    async close() {
      if (child.exitCode !== null) return;
      const exited = new Promise((resolve) => child.once("exit", resolve));
      child.disconnect();
      await exited;
    },
  };
}
