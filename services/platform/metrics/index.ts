// Public surface of platform/metrics: Prometheus metrics of a process: one registry, served at GET /metrics on its own port.
export { startMetricsServer } from "./metrics-server.js";
export type { MetricsServer } from "./metrics-server.js";
export { metricsRegistry } from "./registry.js";
export { reportBreakerState } from "./breaker-metrics.js";
export { reportPoolUsage } from "./db-metrics.js";
