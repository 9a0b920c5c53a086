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
import { createReplicaDiscovery } from "../../services/platform/discovery/index.js";
import { connectNats } from "../../services/platform/events/index.js";
import { createLogger } from "../../services/platform/process/index.js";
import { createGrpcJsTransport } from "../../services/platform/rpc/index.js";
import { createTestDatabase, type TestDatabase } from "./test-database.js";

/** The three compiled services as processes, each on its own fresh database, sharing one NATS stream. */
export interface MeshUnderTest {
  /** The first live replica of each service (the only one without MeshOptions.replicas). */
  processes: Record<MeshService, ServiceProcess>;
  /** Every live replica of each service, oldest first. */
  replicas: Record<MeshService, ServiceProcess[]>;
  /**
   * With MeshOptions.replicas: starts one more replica of the service (port 0, same database) and
   * resolves once it serves and is registered with the NATS service API.
   */
  addReplica(service: MeshService): Promise<ServiceProcess>;
  /** With MeshOptions.replicas: stops one replica (SIGKILL or SIGTERM), waits for its exit and forgets it. */
  stopReplica(service: MeshService, replica: ServiceProcess, how: "crash" | "graceful"): Promise<void>;
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
  /**
   * Replicas per service (default 1 each, on fixed ports). Set: every replica binds port 0 and
   * registers with the NATS service API; orders finds shipping, and the test's clients find orders and
   * shipping, through it (nats-service:///...), as under `npm start -- --replicas`. Give such a mesh
   * a NATS of its own: discovery is by service name on that NATS.
   */
  replicas?: Partial<Record<MeshService, number>>;
}

const portVariables: Record<MeshService, string> = { orders: "ORDERS_PORT", shipping: "SHIPPING_PORT", notifier: "NOTIFIER_PORT" };
const discoveryLogger = createLogger("mesh-under-test", "warn");

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

  const replicated = options.replicas !== undefined;
  const replicas: Record<MeshService, ServiceProcess[]> = { orders: [], shipping: [], notifier: [] };
  const processes = {
    get orders() {
      return replicas.orders[0]!;
    },
    get shipping() {
      return replicas.shipping[0]!;
    },
    get notifier() {
      return replicas.notifier[0]!;
    },
  } as Record<MeshService, ServiceProcess>;
  if (replicated) {
    for (const s of Object.keys(env) as MeshService[]) env[s][portVariables[s]] = "0";
    env.orders.SHIPPING_ADDR = "nats-service:///shipping";
  }
  /** Starts a replica and waits until it serves (and, replicated, until discovery can find it). */
  const launch = async (service: MeshService) => {
    const p = startServiceProcess(scripts[service], env[service]);
    replicas[service].push(p);
    await p.waitForLog((l) => l.msg === "listening", `${service} listening`, 30_000);
    if (replicated) await p.waitForLog((l) => l.msg === "registered with the NATS service API", `${service} registered`, 30_000);
    return p;
  };
  const start = async (service: MeshService, extra: Record<string, string> = {}) => {
    Object.assign(env[service], extra);
    replicas[service].shift();
    const p = startServiceProcess(scripts[service], env[service]);
    replicas[service].unshift(p);
    await p.waitForLog((l) => l.msg === "listening", `${service} listening`, 30_000);
  };
  const stopProcess = async (p: ServiceProcess, how: "crash" | "graceful") => {
    await p.stop(how === "crash" ? "SIGKILL" : "SIGTERM");
  };
  // Replicated, the test's clients find orders and shipping like orders finds shipping.
  const discoveryNats = replicated ? await connectNats(options.natsUrl, discoveryLogger, "mesh-under-test") : undefined;
  const discovery = discoveryNats ? createReplicaDiscovery(async () => discoveryNats, { logger: discoveryLogger, intervalMs: 500 }) : undefined;
  const grpcClient = <S extends typeof OrderService | typeof ShippingService>(service: S, port: number, name: MeshService, identity: { cert: Buffer; key: Buffer }) =>
    createClient(
      service,
      discovery
        ? createGrpcJsTransport({ address: `nats-service:///${name}`, discovery, tls: { ca: nodeOptions.ca, identity } })
        : createGrpcTransport({ baseUrl: `https://127.0.0.1:${port}`, nodeOptions: { ...nodeOptions, ...identity } }),
    );
  const carrierIdentity = { cert: readFileSync(certs.services.carrier!.certFile), key: readFileSync(certs.services.carrier!.keyFile) };
  const mesh: MeshUnderTest = {
    processes,
    replicas,
    databases,
    shippingEvents,
    orders: grpcClient(OrderService, ports.orders, "orders", nodeOptions),
    shipping: grpcClient(ShippingService, ports.shipping, "shipping", nodeOptions),
    carrier: grpcClient(ShippingService, ports.shipping, "shipping", carrierIdentity),
    ordersWebUrl: ordersWebPort === undefined ? undefined : `https://127.0.0.1:${ordersWebPort}`,
    clientTls: nodeOptions,
    start,
    async stop(service, how) {
      await stopProcess(processes[service], how);
    },
    async addReplica(service) {
      if (!replicated) throw new Error("addReplica needs MeshOptions.replicas");
      return launch(service);
    },
    async stopReplica(service, replica, how) {
      await stopProcess(replica, how);
      replicas[service] = replicas[service].filter((p) => p !== replica);
    },
    async close() {
      await Promise.all(Object.values(replicas).flat().map((p) => stopProcess(p, "graceful")));
      discovery?.close();
      await discoveryNats?.close();
      await Promise.all(Object.values(databases).map((d) => d.drop()));
      await rm(certDir, { recursive: true, force: true });
    },
  };
  try {
    for (const service of ["shipping", "orders", "notifier"] as const) {
      const count = options.replicas?.[service] ?? 1;
      await Promise.all(Array.from({ length: count }, () => launch(service)));
    }
  } catch (err) {
    await mesh.close();
    throw err;
  }
  return mesh;
}

