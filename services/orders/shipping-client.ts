import { Code, createClient, type Client } from "@connectrpc/connect";
import { ShippingService } from "../../gen/shipping/v1/shipping_pb.js";
import { createGrpcJsTransport } from "../platform/rpc/index.js";
import type { Logger } from "../platform/process/index.js";
import type { TlsConfig } from "../platform/identity/index.js";
import type { ReplicaDiscovery } from "../platform/discovery/index.js";
import { createUpstreamPolicy, type UpstreamPolicy } from "../platform/rpc/index.js";

/** Tuning of the calls to shipping; defaults suit a LAN, tests shorten them. */
export interface ShippingClientOptions {
  /** ShippingService's gRPC target: host:port, dns:///host:port or nats-service:///shipping (SHIPPING_ADDR). */
  addr: string;
  /** Finds shipping's replicas for a nats-service:/// target. */
  discovery?: ReplicaDiscovery | undefined;
  logger: Logger;
  /** Deadline of one CreateShipment or CancelShipment attempt. */
  dispatchAttemptTimeoutMs?: number;
  breakerThreshold?: number;
  halfOpenAfterMs?: number;
  /** TLS_CA_FILE verifies shipping; orders' own certificate is its identity there (mTLS). Omitted: plaintext. */
  tls?: TlsConfig;
}

/** The typed client of ShippingService with its resilience policy. */
export interface ShippingClient {
  client: Client<typeof ShippingService>;
  /** Closes the connection to shipping. */
  close(): void;
  /**
   * For orders' commands to shipping (CreateShipment from dispatch, CancelShipment from the cancel
   * saga): per-attempt deadline, retries on UNAVAILABLE and DEADLINE_EXCEEDED, one circuit breaker.
   * Reads never call shipping (GetOrder answers from orders' own database).
   */
  dispatch: UpstreamPolicy;
}

/** One HTTP/2 connection and one circuit breaker for shipping, shared by every call. */
export function createShippingClient(options: ShippingClientOptions): ShippingClient {
  const transport = createGrpcJsTransport({ address: options.addr, discovery: options.discovery, maxReconnectBackoffMs: options.halfOpenAfterMs, tls: options.tls });
  return {
    client: createClient(ShippingService, transport),
    close: () => transport.close(),
    dispatch: createUpstreamPolicy({
      name: "shipping",
      logger: options.logger,
      breakerThreshold: options.breakerThreshold ?? 5,
      halfOpenAfterMs: options.halfOpenAfterMs ?? 2000,
      attemptTimeoutMs: options.dispatchAttemptTimeoutMs ?? 2000,
      maxAttempts: 3,
      retryOn: [Code.Unavailable, Code.DeadlineExceeded],
      initialBackoffMs: 100,
      maxBackoffMs: 1000,
    }),
  };
}
