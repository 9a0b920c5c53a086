import type * as grpc from "@grpc/grpc-js";
import { HealthImplementation } from "grpc-health-check";
import type { Logger } from "../process/logger.js";
import { reportServing } from "../metrics/health-metrics.js";

/** The grpc.health.v1 service name that is SERVING while the process runs, whatever its dependencies (for liveness probes). */
export const livenessService = "liveness";

/** A dependency check: resolves when the dependency answers, rejects (or returns false) when it does not. */
export type HealthCheck = () => Promise<unknown>;

/**
 * grpc.health.v1 for one process: the overall "" status and one per served service move together,
 * driven by periodic dependency checks, and stay NOT_SERVING once shutdown begins.
 */
export class HealthReporter {
  private readonly impl: HealthImplementation;
  private timer: NodeJS.Timeout | undefined;
  private serving = false;
  private stopped = false;
  private readonly watchCalls = new Set<grpc.ServerWritableStream<unknown, unknown>>();

  constructor(
    private readonly serviceNames: readonly string[],
    private readonly logger: Logger,
  ) {
    reportServing(false);
    // "liveness" says only that the process runs and answers: a liveness probe asks it, so an outage of a
    // dependency (which makes "" NOT_SERVING and takes the replica out of rotation) does not restart it.
    this.impl = new HealthImplementation({ "": "NOT_SERVING", [livenessService]: "SERVING", ...Object.fromEntries(serviceNames.map((s) => [s, "NOT_SERVING"])) });
  }

  /** Registers grpc.health.v1.Health (Check, Watch and List) on the server. */
  addToServer(server: grpc.Server): void {
    // Watch streams never end by themselves and grpc-js's tryShutdown waits for every open call, so
    // the streams are tracked here and ended by shutdown(); otherwise one watcher stalls every stop.
    this.impl.addToServer({
      addService: (service, implementation) => {
        const watch = implementation.watch as grpc.handleServerStreamingCall<unknown, unknown>;
        server.addService(service, {
          ...implementation,
          watch: (call: grpc.ServerWritableStream<unknown, unknown>) => {
            this.watchCalls.add(call);
            const forget = () => this.watchCalls.delete(call);
            call.once("cancelled", forget).once("finish", forget);
            watch(call);
          },
        });
      },
    });
  }

  /** Whether the process currently reports SERVING. */
  get isServing(): boolean {
    return this.serving;
  }

  /** Sets every status at once; ignored after shutdown began. */
  setServing(serving: boolean): void {
    if (this.stopped || serving === this.serving) return;
    this.serving = serving;
    const status = serving ? "SERVING" : "NOT_SERVING";
    for (const name of ["", ...this.serviceNames]) this.impl.setStatus(name, status);
    reportServing(serving);
    this.logger.info({ health: status }, "health changed");
  }

  /**
   * Runs the checks now and then every intervalMs: SERVING as soon as all of them pass, NOT_SERVING once
   * they have failed failuresToTrip times in a row (like a load balancer's unhealthy threshold), so one
   * probe slowed by a busy CPU does not flap the process out of rotation.
   */
  async watch(checks: readonly HealthCheck[], intervalMs: number, timeoutMs = Math.min(intervalMs, 2000), failuresToTrip = 2): Promise<void> {
    let failures = 0;
    const probe = async () => {
      const results = await Promise.allSettled(checks.map((check) => withTimeout(check(), timeoutMs)));
      const failed = results.filter((r) => r.status === "rejected" || r.value === false);
      failures = failed.length === 0 ? 0 : failures + 1;
      if (failed.length > 0 && this.serving) {
        const reasons = failed.map((r) => (r.status === "rejected" ? String(r.reason) : "check returned false"));
        this.logger.warn({ reasons, failures, failuresToTrip }, "dependency check failed");
      }
      if (failures === 0 || failures >= failuresToTrip) this.setServing(failures === 0);
    };
    await probe();
    this.timer = setInterval(() => void probe(), intervalMs);
    this.timer.unref();
  }

  /** Reports NOT_SERVING for good: load balancers drain the process before it stops. */
  shutdown(): void {
    if (this.timer) clearInterval(this.timer);
    this.setServing(false);
    this.stopped = true;
    // Watchers have just been sent NOT_SERVING; ending their streams (status OK) lets the server drain.
    for (const call of this.watchCalls) call.end();
    this.watchCalls.clear();
  }
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`check timed out after ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
