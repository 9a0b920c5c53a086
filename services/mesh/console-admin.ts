import { randomBytes } from "node:crypto";
import { createClient, type CallOptions, type Client } from "@connectrpc/connect";
import { AdminService } from "../../gen/admin/v1/admin_pb.js";
import { createGrpcJsTransport, type ClosableTransport } from "../platform/rpc/index.js";
import { mintToken, type TokenSigner } from "./dev-issuer.js";

/** An AdminService client of one service and the call options (admin token, deadline) every call needs. */
export interface AdminAccess {
  /** The typed client over the service's gRPC port. */
  client: Client<typeof AdminService>;
  /** Options for one call: the admin bearer token, an unsampled traceparent and a deadline. */
  options(): Promise<CallOptions>;
}

/** The console's AdminService clients: the services that serve it, by name. */
export interface ConsoleAdmin {
  /** The service's client, undefined while it is not running. */
  access(service: AdminServiceName): AdminAccess | undefined;
  /** Adds a service once it listens on its gRPC port (TLS verified against the dev CA). */
  connect(service: AdminServiceName, grpcAddress: string): void;
  /** Closes every channel (the launcher's stop). */
  close(): void;
}

/** The services serving admin.v1.AdminService. */
export const adminServiceNames = ["orders", "shipping"] as const;
/** One of them. */
export type AdminServiceName = (typeof adminServiceNames)[number];

// An hour's token, minted again after half of it: a fresh token per call would fill the services'
// verified-token caches with one entry per console refresh.
const tokenTtlSeconds = 3600;
const callTimeoutMs = 10_000;

/**
 * A W3C traceparent whose sampled flag is off: the services sample parent-based, so the console's own
 * calls (several every few seconds while it is open) leave no traces to crowd the users' orders out
 * of the launcher's bounded receiver.
 */
function unsampledTraceparent(): string {
  return `00-${randomBytes(16).toString("hex")}-${randomBytes(8).toString("hex")}-00`;
}

/** The console acts as an admin of the mesh with a token the launcher, the dev issuer, mints for itself. */
export function createConsoleAdmin(signer: TokenSigner, ca: Buffer): ConsoleAdmin {
  const transports = new Map<AdminServiceName, { transport: ClosableTransport; client: Client<typeof AdminService> }>();
  let token: { value: Promise<string>; renewAt: number } | undefined;
  const bearer = (): Promise<string> => {
    if (!token || Date.now() >= token.renewAt) {
      const value = mintToken(signer, { customerId: "operator-console", admin: true, ttlSeconds: tokenTtlSeconds });
      token = { value, renewAt: Date.now() + (tokenTtlSeconds * 1000) / 2 };
    }
    return token.value;
  };
  return {
    access(service) {
      const entry = transports.get(service);
      if (!entry) return undefined;
      const options = async (): Promise<CallOptions> => ({ headers: { authorization: `Bearer ${await bearer()}`, traceparent: unsampledTraceparent() }, timeoutMs: callTimeoutMs });
      return { client: entry.client, options };
    },
    connect(service, grpcAddress) {
      transports.get(service)?.transport.close();
      const transport = createGrpcJsTransport({ address: grpcAddress, tls: { identity: undefined, ca } });
      transports.set(service, { transport, client: createClient(AdminService, transport) });
    },
    close() {
      for (const { transport } of transports.values()) transport.close();
      transports.clear();
    },
  };
}
