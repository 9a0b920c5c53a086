import { randomBytes } from "node:crypto";
import { jetstreamManager } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import postgres from "postgres";
import { deadLetterStreamName } from "../services/platform/events/index.js";
import { projectPath } from "../services/platform/db/index.js";
import { createPrinter } from "../services/mesh/log-output.js";
import { freePort } from "../services/mesh/ports.js";
import { metricsOff, startService, type ServiceRun } from "../services/mesh/service-runner.js";
import { startSmtpReceiver, type SmtpReceiver } from "./smtp-receiver.js";

/** A service of the mesh. */
export type MeshService = "orders" | "shipping" | "notifier";

/** Where the benchmark finds the mesh and what it may observe of it. */
export interface MeshUnderBench {
  /** http://host:port of OrderService (gRPC). */
  ordersUrl: string;
  /** Service process ids, when the benchmark started them (for CPU and RSS). */
  pids: Partial<Record<MeshService, number>>;
  natsUrl: string;
  stream: string;
  subjectPrefix: string;
  /** postgres:// of the shipping database, to read shipment creation times. */
  shippingDatabaseUrl: string | undefined;
  /** postgres:// of the notifier database (sent_at), used when no SMTP receiver is ours. */
  notifierDatabaseUrl: string | undefined;
  /** Our SMTP receiver, when the benchmark started the mesh. */
  smtp: SmtpReceiver | undefined;
  close(): Promise<void>;
}

/** Options of startBenchMesh. */
export interface BenchMeshOptions {
  /** postgres:// URL of the server (any database) on which fresh databases are created. */
  postgresUrl: string;
  natsUrl: string;
  /** Services to run under `node --cpu-prof`, writing .cpuprofile files to .data/profiles/. */
  profile?: readonly MeshService[];
  /** Extra environment per service. */
  env?: Partial<Record<MeshService, Record<string, string>>>;
}

/** Starts shipping, orders and notifier from dist/ on fresh databases, a unique stream and our SMTP receiver. */
export async function startBenchMesh(options: BenchMeshOptions): Promise<MeshUnderBench> {
  const run = `${Date.now().toString(36)}${randomBytes(3).toString("hex")}`;
  const stream = `BENCH_${run.toUpperCase()}`;
  const subjectPrefix = `bench_${run}`;
  const dbUrl = (service: MeshService) => {
    const u = new URL(options.postgresUrl);
    u.pathname = `/bench_${service}_${run}`;
    return u.toString();
  };
  const databases = { orders: dbUrl("orders"), shipping: dbUrl("shipping"), notifier: dbUrl("notifier") };
  const smtp = await startSmtpReceiver();
  const ports = { orders: await freePort(), shipping: await freePort(), notifier: await freePort() };
  const shippingStream = `${stream}_SHIPPING`;
  const events = {
    NATS_URL: options.natsUrl,
    EVENTS_STREAM: stream,
    EVENTS_SUBJECT_PREFIX: subjectPrefix,
    SHIPPING_EVENTS_STREAM: shippingStream,
    SHIPPING_EVENTS_SUBJECT_PREFIX: `${subjectPrefix}_shipping`,
  };
  // warn: an info line per RPC and per event would make logging a large share of what is measured.
  // No /metrics: the fixed default ports would clash between the mesh and the isolated orders process,
  // and the figures stay comparable with earlier runs (telemetry's cost is a scenario of its own).
  const common = { LOG_LEVEL: "warn", BIND_HOST: "127.0.0.1", ...metricsOff };
  const env: Record<MeshService, Record<string, string>> = {
    // Plaintext on loopback, as the recorded results were measured; without TLS files shipping needs
    // the explicit opt-out of its service-identity check (the TLS cost is not in these figures).
    shipping: { ...common, ...events, SHIPPING_PORT: String(ports.shipping), SHIPPING_WEB_PORT: "off", SHIPPING_DATABASE_URL: databases.shipping, AUTH_DISABLED: "true" },
    orders: {
      ...common,
      ...events,
      ORDERS_PORT: String(ports.orders),
      ORDERS_WEB_PORT: "off",
      ORDERS_DATABASE_URL: databases.orders,
      SHIPPING_ADDR: `127.0.0.1:${ports.shipping}`,
      // Bench calls carry no token yet; the CPU cost of verification is its own measurement.
      AUTH_DISABLED: "true",
    },
    notifier: { ...common, ...events, NOTIFIER_PORT: String(ports.notifier), NOTIFIER_DATABASE_URL: databases.notifier, SMTP_URL: smtp.url },
  };
  for (const s of Object.keys(env) as MeshService[]) Object.assign(env[s], options.env?.[s]);

  const children: Partial<Record<MeshService, ServiceRun>> = {};
  const close = async () => {
    await Promise.all(Object.values(children).map((c) => c.stop()));
    await dropDatabases(options.postgresUrl, Object.values(databases));
    await deleteStreams(options.natsUrl, [stream, deadLetterStreamName(stream), shippingStream, deadLetterStreamName(shippingStream)]);
    await smtp.stop();
  };
  try {
    for (const service of ["shipping", "orders", "notifier"] as const) {
      children[service] = startBenchService(service, env[service], options.profile?.includes(service) ?? false);
      await children[service].waitServing(`127.0.0.1:${ports[service]}`);
    }
    // Orders starts its relay and dispatch consumer after it already serves; wait for the consumer.
    await waitForConsumer(options.natsUrl, stream, "shipping-dispatch");
  } catch (err) {
    await close();
    throw err;
  }
  return {
    ordersUrl: `http://127.0.0.1:${ports.orders}`,
    pids: Object.fromEntries(Object.entries(children).map(([s, c]) => [s, c.process.pid!])),
    natsUrl: options.natsUrl,
    stream,
    subjectPrefix,
    shippingDatabaseUrl: databases.shipping,
    notifierDatabaseUrl: databases.notifier,
    smtp,
    close,
  };
}

/**
 * Starts a compiled service (optionally under --cpu-prof, profiles in .data/profiles/) with the process's
 * environment under env; its rare warn/error lines are relayed to stderr with a prefix, apart from the table.
 */
export function startBenchService(service: MeshService, env: Record<string, string>, profile: boolean): ServiceRun {
  return startService({
    name: service,
    script: `services/${service}/main.js`,
    env: { ...process.env, ...env },
    print: createPrinter(service, (line) => line, process.stderr),
    cpuProfileDir: profile ? projectPath(".data/profiles") : undefined,
    // The benchmark runs in the foreground: Ctrl-C reaches its services too.
    ownProcessGroup: false,
  });
}

async function waitForConsumer(natsUrl: string, stream: string, durable: string, timeoutMs = 30_000): Promise<void> {
  const nc = await connect({ servers: natsUrl });
  try {
    const jsm = await jetstreamManager(nc);
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = await jsm.consumers.info(stream, durable).then(() => true, () => false);
      if (found) return;
      if (Date.now() > deadline) throw new Error(`consumer ${durable} on ${stream} not declared after ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 100));
    }
  } finally {
    await nc.close();
  }
}

/** Drops the databases (forcing out any connection left behind). */
export async function dropDatabases(serverUrl: string, urls: string[]): Promise<void> {
  const sql = postgres(serverUrl, { max: 1, onnotice: () => {} });
  try {
    for (const url of urls) await sql`drop database if exists ${sql(new URL(url).pathname.slice(1))} with (force)`;
  } finally {
    await sql.end({ timeout: 5 });
  }
}

/** Deletes the run's streams (their consumers go with them); natsUrl may list a cluster's servers, comma-separated. */
export async function deleteStreams(natsUrl: string, streams: string[]): Promise<void> {
  const nc = await connect({ servers: natsUrl.split(",") });
  try {
    const jsm = await jetstreamManager(nc);
    for (const s of streams) await jsm.streams.delete(s).catch(() => false);
  } finally {
    await nc.close();
  }
}
