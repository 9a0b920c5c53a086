/** How much one service process accepts from its callers: sizes, connections, streams and time. */
export interface ServerLimits {
  /** Largest request message, after decompression, on every port and protocol (MAX_REQUEST_BYTES, default 1 MiB). */
  maxRequestBytes: number;
  /** Calls running at once in the process before more are refused with RESOURCE_EXHAUSTED (MAX_IN_FLIGHT_CALLS, default 256). */
  maxInFlightCalls: number;
  /** Concurrent HTTP/2 streams one connection may open (MAX_CONCURRENT_STREAMS, default 100). */
  maxConcurrentStreams: number;
  /** Open connections per web port (MAX_CONNECTIONS, default 1000); the gRPC port is bounded by streams and idle time. */
  maxConnections: number;
  /** A connection with no call for this long is closed, on every port (CONNECTION_IDLE_TIMEOUT_MS, default 60 s). */
  idleTimeoutMs: number;
  /** Time an HTTP/1.1 client has to send the request headers (HEADERS_TIMEOUT_MS, default 10 s). */
  headersTimeoutMs: number;
  /** Time an HTTP/1.1 client has to send the whole request, body included (REQUEST_TIMEOUT_MS, default 30 s). */
  requestTimeoutMs: number;
  /** How long in-flight calls may take to finish on SIGTERM before they are cut (SHUTDOWN_GRACE_MS, default 10 s). */
  shutdownGraceMs: number;
  /**
   * A gRPC connection older than this is sent GOAWAY (its calls finish within SHUTDOWN_GRACE_MS), so
   * clients that balance over DNS (a Kubernetes headless Service) connect again and resolve again,
   * finding replicas added since (MAX_CONNECTION_AGE_MS, default off).
   */
  maxConnectionAgeMs?: number | undefined;
}

/** The limits a process applies when its environment says nothing. */
export const defaultServerLimits: ServerLimits = {
  maxRequestBytes: 1024 * 1024,
  maxInFlightCalls: 256,
  maxConcurrentStreams: 100,
  maxConnections: 1000,
  idleTimeoutMs: 60_000,
  headersTimeoutMs: 10_000,
  requestTimeoutMs: 30_000,
  shutdownGraceMs: 10_000,
};

/**
 * grpc-js server options for the limits. grpc-js checks a message's length prefix before buffering it
 * and bounds gzip/deflate output by the same maximum, so a compressed bomb is refused, not inflated.
 * grpc-js does not enforce a minimum ping interval on servers; ping-policy.ts does.
 */
export function grpcServerOptions(limits: ServerLimits): Record<string, number> {
  return {
    "grpc.max_receive_message_length": limits.maxRequestBytes,
    "grpc.max_concurrent_streams": limits.maxConcurrentStreams,
    "grpc.max_connection_idle_ms": limits.idleTimeoutMs,
    // Pings during long calls find peers that vanished without a FIN (a laptop closed, a NAT entry dropped).
    "grpc.keepalive_time_ms": 60_000,
    "grpc.keepalive_timeout_ms": 20_000,
    ...(limits.maxConnectionAgeMs === undefined ? {} : { "grpc.max_connection_age_ms": limits.maxConnectionAgeMs, "grpc.max_connection_age_grace_ms": limits.shutdownGraceMs }),
  };
}

/** The origins of the web page `npm start` serves (WEB_PORT 8090), allowed by CORS when CORS_ORIGINS is unset. */
export const defaultCorsOrigins: readonly string[] = ["http://127.0.0.1:8090", "http://localhost:8090"];
