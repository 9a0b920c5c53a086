import { Gauge } from "prom-client";
import { metricsRegistry } from "./registry.js";

const serving = new Gauge({
  name: "ordermesh_health_serving",
  help: "1 while the process reports SERVING on grpc.health.v1, 0 while NOT_SERVING.",
  registers: [metricsRegistry],
});

/**
 * Mirrors the process's grpc.health.v1 status into ordermesh_health_serving. A process runs one
 * service host, so one unlabelled gauge; several hosts in one process (tests) share it, last one wins.
 */
export function reportServing(isServing: boolean): void {
  serving.set(isServing ? 1 : 0);
}
