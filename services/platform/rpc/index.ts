// Public surface of platform/rpc: Serving and calling RPCs: the service host (grpc-js + Connect), its limits, health, reflection, errors and upstream policies.
export { createGrpcJsTransport } from "./grpc-js-transport.js";
export type { ClosableTransport } from "./grpc-js-transport.js";
export { probeHealth } from "./health-probe.js";
export { livenessService } from "./health.js";
export { createUpstreamBreaker, createUpstreamPolicy, isRetryableCode } from "./resilience.js";
export type { UpstreamPolicy } from "./resilience.js";
export { invalidArgument, statusOf } from "./rpc-errors.js";
export type { FieldViolation } from "./rpc-errors.js";
export { defaultCorsOrigins, defaultServerLimits } from "./server-limits.js";
export type { ServerLimits } from "./server-limits.js";
export { startServiceHost } from "./service-host.js";
export type { ServiceHost } from "./service-host.js";
export { bindService } from "./service-impl.js";
