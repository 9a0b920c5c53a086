import { resolve } from "node:path";
import { parseArgs } from "node:util";
import { maxStreamReplicas, readNatsUrl } from "../platform/events/index.js";
import { ConfigError, type Env, readPort, readString, readUrl } from "../platform/process/index.js";

/** The services of the mesh, in start order (orders needs shipping; notifier only needs NATS). */
export const serviceNames = ["shipping", "orders", "notifier"] as const;
/** One service of the mesh. */
export type ServiceName = (typeof serviceNames)[number];

/** The most replicas of one service `--replicas` starts (each is a Node process on this machine). */
export const maxReplicas = 8;
/** The smallest local NATS cluster: 3 nodes keep a majority (and so acknowledge writes) with one down. */
export const minNatsClusterSize = 3;

/** What the command line says. */
export interface MeshArgs {
  /** --help / -h: print the usage and exit. */
  help: boolean;
  /** --reset: delete the data folder first. */
  reset: boolean;
  /** --replicas: how many instances of each service (1 when not named). */
  replicas: Record<ServiceName, number>;
  /** --nats-cluster N: a local N-node JetStream cluster instead of one nats-server. */
  natsCluster: number | undefined;
}

/** Everything the launcher reads from its command line and environment. */
export interface MeshConfig {
  /** Folder of the embedded PostgreSQL cluster, the JetStream store and the notifier's .eml files. */
  dataDir: string;
  /** Delete dataDir before starting (--reset). */
  reset: boolean;
  /** Instances of each service (--replicas); the first of each keeps the service's configured ports. */
  replicas: Record<ServiceName, number>;
  /** Nodes of the local JetStream cluster (--nats-cluster); undefined runs one nats-server. */
  natsCluster: number | undefined;
  /** Each service's database URL when given; undefined ones go to the embedded PostgreSQL. */
  databaseUrls: Record<ServiceName, string | undefined>;
  /** Port of the embedded PostgreSQL; not 5432, so it never collides with a system server. */
  postgresPort: number;
  /** NATS to use (one URL or a comma-separated list); undefined starts a local nats-server or cluster. */
  natsUrl: string | undefined;
  /** Port of the local nats-server (the cluster's first node); undefined means 4222 when free, otherwise any free port. */
  natsPort: number | undefined;
  /** Port of the static server for the built web page; undefined when disabled. */
  webPort: number | undefined;
}

/** Usage text of `npm start -- --help`. */
export const usage = `usage: npm start [-- [--reset] [--replicas service=N[,service=N...]] [--nats-cluster N]]

Starts PostgreSQL and NATS (unless given), then shipping, orders and notifier, and serves the web page.
The services speak TLS with a dev CA made on first start (MESH_DATA_DIR/tls: ca.crt, <service>.crt/.key);
orders calls shipping with its client certificate (mTLS). The web ports stay plaintext on loopback.
  --reset              delete the data folder (MESH_DATA_DIR, default .data) first
  --replicas LIST      instances per service, e.g. shipping=2,orders=2,notifier=2 (1 to ${maxReplicas} each; the flag
                       may be repeated). The first instance keeps the service's ports, the others bind free
                       ones; every instance registers with the NATS service API (nats micro ls) and shares
                       its service's database. With shipping=2 or more, orders finds shipping through it
                       (SHIPPING_ADDR=nats-service:///shipping) and balances round-robin.
  --nats-cluster N     a local JetStream cluster of N nats-servers (${minNatsClusterSize} to ${maxStreamReplicas}) on loopback, stores in
                       MESH_DATA_DIR/nats-cluster/node-<i>; the services get every node in NATS_URL and
                       STREAM_REPLICAS=N (a copy of each stream on every node). Not with NATS_URL.
  --help, -h           this text

Environment (all optional):
  ORDERS_DATABASE_URL, SHIPPING_DATABASE_URL, NOTIFIER_DATABASE_URL   use these databases
  DATABASE_URL         a server URL; each service gets its own database on it (/orders, /shipping, /notifier)
  NATS_URL             use this NATS (with JetStream) instead of a local nats-server; a cluster's servers
                       comma-separated
  STREAM_REPLICAS      copies of each stream (default 1; N with --nats-cluster N)
  SHIPPING_ADDR        where orders reaches shipping (default the first shipping instance, or
                       nats-service:///shipping with 2+ shipping replicas; also dns:///host:port)
  MESH_DATA_DIR        data folder (default .data)
  MESH_POSTGRES_PORT   port of the embedded PostgreSQL (default 54329)
  MESH_NATS_PORT       port of the local nats-server, or the cluster's first node (default 4222, or a free
                       port when 4222 is taken)
  MESH_NATS_SERVER     path of the nats-server binary (default: found on PATH)
  WEB_TLS              "on" serves the services' web ports with TLS too (default "off" under npm start)
  WEB_PORT             port serving the web page and the operator console at /console (default 8090, "off" to
                       disable both); the services allow its origin (CORS_ORIGINS)
  OTEL_EXPORTER_OTLP_ENDPOINT  export the services' traces there instead of to the launcher's own receiver
                       (which keeps the last 200 for the console); OTEL_TRACES_SAMPLER (default here
                       parentbased_always_on), OTEL_SDK_DISABLED=true (no traces)
  PAGE_TOKEN_KEY       key signing ListOrders page tokens (default: one kept in the data folder)
  ORDERS_PORT, ORDERS_WEB_PORT, SHIPPING_PORT, SHIPPING_WEB_PORT, NOTIFIER_PORT, ... as for each service`;

/** Parses the launcher's command line (node:util parseArgs); throws ConfigError naming the bad argument. */
export function parseMeshArgs(argv: readonly string[]): MeshArgs {
  let values;
  try {
    ({ values } = parseArgs({
      args: [...argv],
      options: {
        help: { type: "boolean", short: "h" },
        reset: { type: "boolean" },
        replicas: { type: "string", multiple: true },
        "nats-cluster": { type: "string" },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (err) {
    throw new ConfigError(`${err instanceof Error ? err.message : String(err)}\n${usage}`);
  }
  return {
    help: values.help ?? false,
    reset: values.reset ?? false,
    replicas: parseReplicas(values.replicas ?? []),
    natsCluster: values["nats-cluster"] === undefined ? undefined : parseClusterSize(values["nats-cluster"]),
  };
}

/** The counts of `--replicas shipping=2,orders=3` (each flag value a comma-separated list); unnamed services run once. */
export function parseReplicas(lists: readonly string[]): Record<ServiceName, number> {
  const counts: Record<ServiceName, number> = { shipping: 1, orders: 1, notifier: 1 };
  const given = new Set<string>();
  for (const entry of lists.flatMap((list) => list.split(","))) {
    const match = /^\s*([^=\s]+)\s*=\s*(\S+)\s*$/.exec(entry);
    if (!match) throw new ConfigError(`--replicas takes service=count[,service=count...], got "${entry.slice(0, 100)}"`);
    const [, name, count] = match as unknown as [string, string, string];
    if (!(serviceNames as readonly string[]).includes(name)) throw new ConfigError(`--replicas: unknown service "${name.slice(0, 100)}" (one of ${serviceNames.join(", ")})`);
    if (given.has(name)) throw new ConfigError(`--replicas: ${name} is given twice`);
    given.add(name);
    const n = /^\d{1,3}$/.test(count) ? Number(count) : NaN;
    if (!(n >= 1 && n <= maxReplicas)) throw new ConfigError(`--replicas: ${name} must be 1 to ${maxReplicas} replicas, got "${count.slice(0, 100)}"`);
    counts[name as ServiceName] = n;
  }
  return counts;
}

function parseClusterSize(raw: string): number {
  const n = /^\d{1,3}$/.test(raw) ? Number(raw) : NaN;
  if (!(n >= minNatsClusterSize && n <= maxStreamReplicas)) {
    throw new ConfigError(`--nats-cluster must be ${minNatsClusterSize} to ${maxStreamReplicas} nodes (a majority survives one node down; a stream has at most ${maxStreamReplicas} copies), got "${raw.slice(0, 100)}"`);
  }
  return n;
}

/** Reads the launcher configuration; throws ConfigError naming the bad argument or variable. */
export function loadMeshConfig(argv: readonly string[], env: Env, projectRoot: string): MeshConfig {
  const args = parseMeshArgs(argv);
  if (args.natsCluster !== undefined && env.NATS_URL) {
    throw new ConfigError("--nats-cluster starts a local cluster; NATS_URL names a NATS to use instead: give one or the other");
  }
  const base = env.DATABASE_URL ? readUrl(env, "DATABASE_URL", "", ["postgres", "postgresql"]) : undefined;
  const databaseUrl = (service: ServiceName): string | undefined => {
    const name = `${service.toUpperCase()}_DATABASE_URL`;
    if (env[name]) return readUrl(env, name, "", ["postgres", "postgresql"]);
    return base ? withDatabase(base, service) : undefined;
  };
  return {
    dataDir: resolve(projectRoot, readString(env, "MESH_DATA_DIR", ".data")),
    reset: args.reset,
    replicas: args.replicas,
    natsCluster: args.natsCluster,
    databaseUrls: { shipping: databaseUrl("shipping"), orders: databaseUrl("orders"), notifier: databaseUrl("notifier") },
    postgresPort: readPort(env, "MESH_POSTGRES_PORT", 54329),
    natsUrl: env.NATS_URL ? readNatsUrl(env) : undefined,
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
