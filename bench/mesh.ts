import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdirSync } from "node:fs";
import * as net from "node:net";
import { jetstreamManager } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import postgres from "postgres";
import { deadLetterStreamName } from "../services/platform/events/index.js";
import { projectPath } from "../services/platform/db/index.js";
import { GrpcH2Client } from "./grpc-h2-client.js";
import { startSmtpReceiver, type SmtpReceiver } from "./smtp-receiver.js";

/**
 * The benchmarked processes serve no /metrics: their fixed default ports would clash between the mesh
 * and the isolated orders process, and these figures stay comparable with earlier runs (the cost of
 * telemetry is a row of its own, issue #12).
 */
export const metricsOff = { ORDERS_METRICS_PORT: "off", SHIPPING_METRICS_PORT: "off", NOTIFIER_METRICS_PORT: "off" };

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

const scripts: Record<MeshService, string> = {
  orders: "dist/services/orders/main.js",
  shipping: "dist/services/shipping/main.js",
  notifier: "dist/services/notifier/main.js",
};

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

  const children: Partial<Record<MeshService, ChildProcess>> = {};
  const close = async () => {
    await Promise.all(Object.values(children).map((c) => stopChild(c)));
    await dropDatabases(options.postgresUrl, Object.values(databases));
    await deleteStreams(options.natsUrl, [stream, deadLetterStreamName(stream), shippingStream, deadLetterStreamName(shippingStream)]);
    await smtp.stop();
  };
  try {
    for (const service of ["shipping", "orders", "notifier"] as const) {
      children[service] = spawnService(service, env[service], options.profile?.includes(service) ?? false);
      await waitServing(children[service]!, `http://127.0.0.1:${ports[service]}`, service);
    }
    // Orders starts its relay and dispatch consumer after it already serves; wait for the consumer.
    await waitForConsumer(options.natsUrl, stream, "shipping-dispatch");
  } catch (err) {
    await close();
    throw err;
  }
  return {
    ordersUrl: `http://127.0.0.1:${ports.orders}`,
    pids: Object.fromEntries(Object.entries(children).map(([s, c]) => [s, c.pid!])),
    natsUrl: options.natsUrl,
    stream,
    subjectPrefix,
    shippingDatabaseUrl: databases.shipping,
    notifierDatabaseUrl: databases.notifier,
    smtp,
    close,
  };
}

/** Spawns a compiled service (optionally under --cpu-prof), relaying its rare warn/error lines with a prefix. */
export function spawnService(service: MeshService, env: Record<string, string>, profile: boolean): ChildProcess {
  const args = [projectPath(scripts[service])];
  if (profile) {
    const dir = projectPath(".data/profiles");
    mkdirSync(dir, { recursive: true });
    args.unshift("--cpu-prof", `--cpu-prof-dir=${dir}`, `--cpu-prof-name=${service}-${Date.now()}.cpuprofile`);
  }
  const child = spawn(process.execPath, args, { cwd: projectPath("."), env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] });
  // warn-level lines are rare and worth seeing; prefix them so they are told apart from the table.
  const relay = (chunk: Buffer) => process.stderr.write(`[${service}] ${chunk.toString("utf8")}`);
  child.stdout!.on("data", relay);
  child.stderr!.on("data", relay);
  return child;
}

/** Polls grpc.health.v1.Health/Check until the overall status is SERVING (the process's own readiness). */
export async function waitServing(child: ChildProcess, url: string, what: string, timeoutMs = 30_000): Promise<void> {
  const client = new GrpcH2Client(url);
  const deadline = Date.now() + timeoutMs;
  try {
    for (;;) {
      if (child.exitCode !== null) throw new Error(`${what} exited with ${child.exitCode} during start`);
      // HealthCheckResponse { status = 1 (SERVING) } is the two bytes 08 01.
      const res = await client.unary("/grpc.health.v1.Health/Check", new Uint8Array(0), 1000);
      if (res.code === 0 && res.message.equals(Buffer.from([8, 1]))) return;
      if (Date.now() > deadline) throw new Error(`${what} not SERVING after ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 100));
    }
  } finally {
    await client.close();
  }
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

/** SIGTERM (graceful drain), SIGKILL after 15 s; resolves when the process has exited. */
export async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once("exit", resolve));
  child.kill("SIGTERM");
  const kill = setTimeout(() => child.kill("SIGKILL"), 15_000);
  await exited;
  clearTimeout(kill);
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

/** A TCP port that was free a moment ago. */
export async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", () => resolve()));
  const { port } = (server.address() as net.AddressInfo);
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}
