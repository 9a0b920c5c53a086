import { createClient, type Client } from "@connectrpc/connect";
import { createGrpcTransport, Http2SessionManager } from "@connectrpc/connect-node";
import { AdminService } from "../../gen/admin/v1/admin_pb.js";
import { adminBinding, type AdminBinding } from "../../services/platform/admin/index.js";
import type { FailedOutbox } from "../../services/platform/db/index.js";
import type { EventFamily, EventFamilyConfig } from "../../services/platform/events/index.js";
import { createCallerAuthenticator } from "../../services/platform/identity/index.js";
import { createLogger, readAuthConfig } from "../../services/platform/process/index.js";
import { startServiceHost, type ServiceHost } from "../../services/platform/rpc/index.js";
import { createTestIssuer, type TestIssuer } from "./test-issuer.js";

/** AdminService on a real service host (both ports) behind the real token check, as orders and shipping serve it. */
export interface AdminHost {
  host: ServiceHost;
  admin: AdminBinding;
  issuer: TestIssuer;
  /** Headers of an admin's token. */
  adminHeaders: Record<string, string>;
  /** Headers of a customer's token. */
  customerHeaders: Record<string, string>;
  /** A Connect gRPC client of the gRPC port sending the admin's token. */
  client: Client<typeof AdminService>;
  stop(): Promise<void>;
}

/** Starts the host; the dead-letter RPCs answer UNAVAILABLE until `admin.attach` is called. */
export async function startAdminHost(options: { families: Record<EventFamily, EventFamilyConfig>; outbox: FailedOutbox }): Promise<AdminHost> {
  const issuer = await createTestIssuer();
  const admin = adminBinding(options);
  const host = await startServiceHost({
    logger: createLogger("test", process.env.TEST_LOG_LEVEL ?? "silent"),
    host: "127.0.0.1",
    grpcPort: 0,
    webPort: 0,
    services: [admin.binding],
    authenticator: await createCallerAuthenticator(readAuthConfig(issuer.env)),
    healthChecks: [],
  });
  const adminHeaders = await issuer.header("ops", { admin: true });
  const baseUrl = `http://127.0.0.1:${host.grpcPort}`;
  const session = new Http2SessionManager(baseUrl);
  const client = createClient(AdminService, createGrpcTransport({ baseUrl, sessionManager: session, interceptors: [(next) => (req) => {
    for (const [k, v] of Object.entries(adminHeaders)) req.header.set(k, v);
    return next(req);
  }] }));
  return {
    host,
    admin,
    issuer,
    adminHeaders,
    customerHeaders: await issuer.header("c-42"),
    client,
    async stop() {
      session.abort();
      await host.stop();
      await issuer.remove();
    },
  };
}
