import { type Env, readCorsOrigins, readOptionalPort, readPort, readPositiveInt, readServerLimits, readString, readUrl } from "../platform/config.js";
import type { ServerLimits } from "../platform/server-limits.js";

/** Everything the shipping process reads from its environment. */
export interface ShippingConfig {
  /** Interface the gRPC and web listeners bind to. */
  bindHost: string;
  /** gRPC (grpc-js) port. */
  grpcPort: number;
  /** Connect + gRPC-Web port for browsers; undefined when disabled. */
  webPort: number | undefined;
  /** postgres:// URL of the shipping database (created at start if missing). */
  databaseUrl: string;
  /** Connections in the database pool. */
  databasePoolSize: number;
  /** Request size, connection, stream, timeout and in-flight limits (MAX_REQUEST_BYTES, MAX_IN_FLIGHT_CALLS, ...). */
  limits: ServerLimits;
  /** Origins whose pages may call the web port (CORS_ORIGINS). */
  corsOrigins: readonly string[];
}

/** Reads and validates the shipping configuration; throws ConfigError naming the bad variable. */
export function loadShippingConfig(env: Env = process.env): ShippingConfig {
  return {
    bindHost: readString(env, "BIND_HOST", "127.0.0.1"),
    grpcPort: readPort(env, "SHIPPING_PORT", 50052),
    webPort: readOptionalPort(env, "SHIPPING_WEB_PORT", 8082),
    databaseUrl: readUrl(env, "SHIPPING_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/shipping", ["postgres", "postgresql"]),
    databasePoolSize: readPositiveInt(env, "SHIPPING_DATABASE_POOL", 10),
    limits: readServerLimits(env),
    corsOrigins: readCorsOrigins(env),
  };
}
