import { resolve } from "node:path";
import { ConfigError, type Env, readPort, readString, readUrl } from "../platform/process/index.js";

/** The services of the mesh, in start order (orders needs shipping; notifier only needs NATS). */
export const serviceNames = ["shipping", "orders", "notifier"] as const;
/** One service of the mesh. */
export type ServiceName = (typeof serviceNames)[number];

/** Everything the launcher reads from its command line and environment. */
export interface MeshConfig {
  /** Folder of the embedded PostgreSQL cluster, the JetStream store and the notifier's .eml files. */
  dataDir: string;
  /** Delete dataDir before starting (--reset). */
  reset: boolean;
  /** Each service's database URL when given; undefined ones go to the embedded PostgreSQL. */
  databaseUrls: Record<ServiceName, string | undefined>;
  /** Port of the embedded PostgreSQL; not 5432, so it never collides with a system server. */
  postgresPort: number;
  /** NATS to use; undefined starts a local nats-server. */
  natsUrl: string | undefined;
  /** Port of the local nats-server; undefined means 4222 when free, otherwise any free port. */
  natsPort: number | undefined;
  /** Port of the static server for the built web page; undefined when disabled. */
  webPort: number | undefined;
}

/** Usage text of `npm start -- --help`. */
export const usage = `usage: npm start [-- --reset]

Starts PostgreSQL and NATS (unless given), then shipping, orders and notifier, and serves the web page.
The services speak TLS with a dev CA made on first start (MESH_DATA_DIR/tls: ca.crt, <service>.crt/.key);
orders calls shipping with its client certificate (mTLS). The web ports stay plaintext on loopback.
  --reset   delete the data folder (MESH_DATA_DIR, default .data) first

Environment (all optional):
  ORDERS_DATABASE_URL, SHIPPING_DATABASE_URL, NOTIFIER_DATABASE_URL   use these databases
  DATABASE_URL         a server URL; each service gets its own database on it (/orders, /shipping, /notifier)
  NATS_URL             use this NATS (with JetStream) instead of a local nats-server
  MESH_DATA_DIR        data folder (default .data)
  MESH_POSTGRES_PORT   port of the embedded PostgreSQL (default 54329)
  MESH_NATS_PORT       port of the local nats-server (default 4222, or a free port when 4222 is taken)
  MESH_NATS_SERVER     path of the nats-server binary (default: found on PATH)
  WEB_TLS              "on" serves the services' web ports with TLS too (default "off" under npm start)
  WEB_PORT             port serving the web page and the operator console at /console (default 8090, "off" to
                       disable both); the services allow its origin (CORS_ORIGINS)
  OTEL_EXPORTER_OTLP_ENDPOINT  export the services' traces there instead of to the launcher's own receiver
                       (which keeps the last 200 for the console); OTEL_TRACES_SAMPLER (default here
                       parentbased_always_on), OTEL_SDK_DISABLED=true (no traces)
  PAGE_TOKEN_KEY       key signing ListOrders page tokens (default: one kept in the data folder)
  ORDERS_PORT, ORDERS_WEB_PORT, SHIPPING_PORT, SHIPPING_WEB_PORT, NOTIFIER_PORT, ... as for each service`;

/** Reads the launcher configuration; throws ConfigError naming the bad argument or variable. */
export function loadMeshConfig(argv: readonly string[], env: Env, projectRoot: string): MeshConfig {
  const unknown = argv.filter((arg) => arg !== "--reset");
  if (unknown.length > 0) throw new ConfigError(`unknown argument ${unknown[0]}\n${usage}`);
  const base = env.DATABASE_URL ? readUrl(env, "DATABASE_URL", "", ["postgres", "postgresql"]) : undefined;
  const databaseUrl = (service: ServiceName): string | undefined => {
    const name = `${service.toUpperCase()}_DATABASE_URL`;
    if (env[name]) return readUrl(env, name, "", ["postgres", "postgresql"]);
    return base ? withDatabase(base, service) : undefined;
  };
  return {
    dataDir: resolve(projectRoot, readString(env, "MESH_DATA_DIR", ".data")),
    reset: argv.includes("--reset"),
    databaseUrls: { shipping: databaseUrl("shipping"), orders: databaseUrl("orders"), notifier: databaseUrl("notifier") },
    postgresPort: readPort(env, "MESH_POSTGRES_PORT", 54329),
    natsUrl: env.NATS_URL ? readUrl(env, "NATS_URL", "", ["nats", "tls"]) : undefined,
    natsPort: env.MESH_NATS_PORT ? readPort(env, "MESH_NATS_PORT", 4222) : undefined,
    webPort: env.WEB_PORT === "off" ? undefined : readPort(env, "WEB_PORT", 8090),
  };
}

/** The server URL with its path replaced by one database name. */
export function withDatabase(serverUrl: string, database: string): string {
  const url = new URL(serverUrl);
  url.pathname = `/${database}`;
  return url.toString();
}
