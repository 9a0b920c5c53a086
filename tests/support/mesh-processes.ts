import { mkdtemp, rm } from "node:fs/promises";
import { readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ensureDevCertificates } from "../../services/mesh/dev-certificates.js";
import { freePort } from "../../services/mesh/ports.js";
import { createClient, type Client } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { OrderService } from "../../gen/orders/v1/orders_pb.js";
import { ShippingService } from "../../gen/shipping/v1/shipping_pb.js";
import { startServiceProcess, type ServiceProcess } from "./service-process.js";
import { createTestDatabase, type TestDatabase } from "./test-database.js";

/** The three compiled services as processes, each on its own fresh database, sharing one NATS stream. */
export interface MeshUnderTest {
  processes: Record<MeshService, ServiceProcess>;
  orders: Client<typeof OrderService>;
  /** ShippingService as orders calls it (orders' client certificate): create, cancel, read. */
  shipping: Client<typeof ShippingService>;
  /** ShippingService as the carrier calls it (the carrier's certificate): UpdateShipmentStatus. */
  carrier: Client<typeof ShippingService>;
  /** https:// URL of orders' web port (Connect, gRPC-Web), when MeshOptions.ordersWeb asked for it. */
  ordersWebUrl: string | undefined;
  /** TLS options of the test's clients (the mesh CA, orders' certificate), for transports of its own. */
  clientTls: { ca: Buffer; cert: Buffer; key: Buffer };
  databases: Record<MeshService, TestDatabase>;
  /** Shipping's event stream and prefix (unique per run unless given; tests delete it with their own). */
  shippingEvents: { stream: string; subjectPrefix: string };
  /**
   * Starts a service again (same port and database) after it was stopped or killed; `env` is merged
   * into its environment for this and every later start (e.g. the carrier's delays).
   */
  start(service: MeshService, env?: Record<string, string>): Promise<void>;
  /** SIGKILL (crash) or SIGTERM (graceful), then waits for the exit. */
  stop(service: MeshService, how: "crash" | "graceful"): Promise<void>;
  close(): Promise<void>;
}

/** A service of the mesh. */
export type MeshService = "orders" | "shipping" | "notifier";

/** Where the mesh's events and emails go. */
export interface MeshOptions {
  natsUrl: string;
  stream: string;
  subjectPrefix: string;
  /** Shipping's stream and prefix; default `${stream}_SHIPPING` and `${subjectPrefix}_shipping`. */
  shippingStream?: string;
  shippingSubjectPrefix?: string;
  smtpUrl: string;
  /** Extra environment per service (tuning for tests). */
  env?: Partial<Record<MeshService, Record<string, string>>>;
  /** Serve orders' web port (TLS, on a free port) instead of ORDERS_WEB_PORT=off. */
  ordersWeb?: boolean;
}

const scripts: Record<MeshService, string> = {
  orders: "services/orders/main.js",
  shipping: "services/shipping/main.js",
  notifier: "services/notifier/main.js",
};

/**
 * Starts shipping, orders and notifier (compiled, from dist/) and waits until each listens. They speak
 * TLS with a throwaway dev CA, as under `npm start`: orders calls shipping with its client certificate.
 */
export async function startMesh(options: MeshOptions): Promise<MeshUnderTest> {
  const certDir = await mkdtemp(join(tmpdir(), "ordermesh-certs-"));
  const certs = await ensureDevCertificates(certDir, ["orders", "shipping", "notifier", "carrier"]);
  const tlsEnv = (service: MeshService) => ({
    TLS_CA_FILE: certs.caFile,
    TLS_CERT_FILE: certs.services[service]!.certFile,
    TLS_KEY_FILE: certs.services[service]!.keyFile,
  });
  // The tests call shipping the way orders does (with orders' certificate), to read and move shipments.
  const nodeOptions = {
    ca: readFileSync(certs.caFile),
    cert: readFileSync(certs.services.orders!.certFile),
    key: readFileSync(certs.services.orders!.keyFile),
  };
  const databases = {
    orders: await createTestDatabase("mesh_orders"),
    shipping: await createTestDatabase("mesh_shipping"),
    notifier: await createTestDatabase("mesh_notifier"),
  };
  // Fixed ports (chosen free now) so a restarted service comes back where its callers expect it.
  const ports = { orders: await freePort(), shipping: await freePort(), notifier: await freePort() };
  const ordersWebPort = options.ordersWeb ? await freePort() : undefined;
  const shippingEvents = { stream: options.shippingStream ?? `${options.stream}_SHIPPING`, subjectPrefix: options.shippingSubjectPrefix ?? `${options.subjectPrefix}_shipping` };
  const events = {
    NATS_URL: options.natsUrl,
    EVENTS_STREAM: options.stream,
    EVENTS_SUBJECT_PREFIX: options.subjectPrefix,
    SHIPPING_EVENTS_STREAM: shippingEvents.stream,
    SHIPPING_EVENTS_SUBJECT_PREFIX: shippingEvents.subjectPrefix,
  };
  const env: Record<MeshService, Record<string, string>> = {
    shipping: { SHIPPING_PORT: String(ports.shipping), SHIPPING_WEB_PORT: "off", SHIPPING_DATABASE_URL: databases.shipping.url, ...events },
    orders: {
      ORDERS_PORT: String(ports.orders),
      ORDERS_WEB_PORT: ordersWebPort === undefined ? "off" : String(ordersWebPort),
      ORDERS_DATABASE_URL: databases.orders.url,
      SHIPPING_ADDR: `127.0.0.1:${ports.shipping}`,
      // These tests are about events and faults, not identity; the end-to-end tests (mesh, browser) use tokens.
      AUTH_DISABLED: "true",
      ...events,
    },
    notifier: { NOTIFIER_PORT: String(ports.notifier), NOTIFIER_DATABASE_URL: databases.notifier.url, SMTP_URL: options.smtpUrl, ...events },
  };
  for (const s of Object.keys(env) as MeshService[]) Object.assign(env[s], { LOG_LEVEL: "info" }, tlsEnv(s), options.env?.[s]);

  const processes = {} as Record<MeshService, ServiceProcess>;
  const start = async (service: MeshService, extra: Record<string, string> = {}) => {
    Object.assign(env[service], extra);
    const p = startServiceProcess(scripts[service], env[service]);
    processes[service] = p;
    await p.waitForLog((l) => l.msg === "listening", `${service} listening`, 30_000);
  };
  const mesh: MeshUnderTest = {
    processes,
    databases,
    shippingEvents,
    orders: createClient(OrderService, createGrpcTransport({ baseUrl: `https://127.0.0.1:${ports.orders}`, nodeOptions })),
    shipping: createClient(ShippingService, createGrpcTransport({ baseUrl: `https://127.0.0.1:${ports.shipping}`, nodeOptions })),
    carrier: createClient(
      ShippingService,
      createGrpcTransport({
        baseUrl: `https://127.0.0.1:${ports.shipping}`,
        nodeOptions: { ...nodeOptions, cert: readFileSync(certs.services.carrier!.certFile), key: readFileSync(certs.services.carrier!.keyFile) },
      }),
    ),
    ordersWebUrl: ordersWebPort === undefined ? undefined : `https://127.0.0.1:${ordersWebPort}`,
    clientTls: nodeOptions,
    start,
    async stop(service, how) {
      const p = processes[service];
      if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill(how === "crash" ? "SIGKILL" : "SIGTERM");
      await p.exited;
    },
    async close() {
      await Promise.all((Object.keys(processes) as MeshService[]).map((s) => mesh.stop(s, "graceful")));
      await Promise.all(Object.values(databases).map((d) => d.drop()));
      await rm(certDir, { recursive: true, force: true });
    },
  };
  try {
    await start("shipping");
    await start("orders");
    await start("notifier");
  } catch (err) {
    await mesh.close();
    throw err;
  }
  return mesh;
}

