// Public surface of platform/process: A service process: configuration from the environment, logging and the start/stop lifecycle.
export { ConfigError, readAuthConfig, readByteSize, readCorsOrigins, readDuration, readGrpcTarget, readHostPort, readOptionalAuthConfig, readOptionalPort, readPort, readPositiveInt, readSecretKey, readServerLimits, readString, readSwitch, readUrl } from "./config.js";
export type { AuthConfig, Env } from "./config.js";
export { exponentialBackoff } from "./backoff.js";
export type { ExponentialBackoffOptions } from "./backoff.js";
export { createLogger } from "./logger.js";
export type { Logger } from "./logger.js";
export { runProcess } from "./process-lifecycle.js";
