import { Code, createClient, type Client } from "@connectrpc/connect";
import { ShippingService } from "../../gen/shipping/v1/shipping_pb.js";
import { createGrpcJsTransport } from "../platform/rpc/index.js";
import type { Logger } from "../platform/process/index.js";
import type { TlsConfig } from "../platform/identity/index.js";
import { createUpstreamBreaker, createUpstreamPolicy, type UpstreamPolicy } from "../platform/rpc/index.js";

/** Tuning of the calls to shipping; defaults suit a LAN, tests shorten them. */
export interface ShippingClientOptions {
  /** host:port of ShippingService (gRPC). */
  addr: string;
  logger: Logger;
  /** Deadline of one GetOrder enrichment attempt. */
  readAttemptTimeoutMs?: number;
  /** Deadline of one CreateShipment attempt. */
  dispatchAttemptTimeoutMs?: number;
  breakerThreshold?: number;
  halfOpenAfterMs?: number;
  /** TLS_CA_FILE verifies shipping; orders' own certificate is its identity there (mTLS). Omitted: plaintext. */
  tls?: TlsConfig;
}

/** The typed client of ShippingService with its resilience policies. */
export interface ShippingClient {
  client: Client<typeof ShippingService>;
  /** Closes the connection to shipping. */
  close(): void;
  /** For GetOrder enrichment: short deadline, one quick retry on UNAVAILABLE only. */
  reads: UpstreamPolicy;
  /** For shipment dispatch: longer deadline, retries on UNAVAILABLE and DEADLINE_EXCEEDED. */
  dispatch: UpstreamPolicy;
}

/**
 * One HTTP/2 connection and one circuit breaker for shipping, shared by every call, so an outage
 * trips one breaker for reads and dispatch alike instead of being hammered from two sides.
 */
export function createShippingClient(options: ShippingClientOptions): ShippingClient {
  const transport = createGrpcJsTransport({ address: options.addr, maxReconnectBackoffMs: options.halfOpenAfterMs, tls: options.tls });
  const shared = {
    name: "shipping",
    logger: options.logger,
    breakerThreshold: options.breakerThreshold ?? 5,
    halfOpenAfterMs: options.halfOpenAfterMs ?? 2000,
  };
  const breaker = createUpstreamBreaker({ ...shared, retryOn: [Code.Unavailable, Code.DeadlineExceeded] });
  return {
    client: createClient(ShippingService, transport),
    close: () => transport.close(),
    reads: createUpstreamPolicy({
      ...shared,
      breaker,
      attemptTimeoutMs: options.readAttemptTimeoutMs ?? 300,
      maxAttempts: 2,
      retryOn: [Code.Unavailable],
      initialBackoffMs: 20,
      maxBackoffMs: 100,
    }),
    dispatch: createUpstreamPolicy({
      ...shared,
      breaker,
      attemptTimeoutMs: options.dispatchAttemptTimeoutMs ?? 2000,
      maxAttempts: 3,
      retryOn: [Code.Unavailable, Code.DeadlineExceeded],
      initialBackoffMs: 100,
      maxBackoffMs: 1000,
    }),
  };
}
