import { existsSync } from "node:fs";
import { mkdir, readFile, rm } from "node:fs/promises";
import { join, sep } from "node:path";
import { projectPath, redact } from "../platform/db/index.js";
import type { MeshSummary, NatsLine, ServiceInstance } from "./banner.js";
import { adminServiceNames, createConsoleAdmin } from "./console-admin.js";
import { createConsoleApi, type ConsolePart, type TracingMode } from "./console-api.js";
import { natsPart, postgresParts, servicePart } from "./console-parts.js";
import { defaultAudience, devEmail, ensureDevIssuer, mintToken, type TokenSigner } from "./dev-issuer.js";
import { ensureDevCertificates } from "./dev-certificates.js";
import { startEmbeddedPostgres } from "./embedded-postgres.js";
import { createPrinter, type LinePrinter } from "./log-output.js";
import type { ManagedProcess, ProcessExit } from "./managed-process.js";
import { serviceNames, withDatabase, type MeshConfig, type ServiceName } from "./mesh-config.js";
import { startNatsCluster } from "./nats-cluster.js";
import { startNatsServer } from "./nats-server.js";
import { startOtlpReceiver } from "./otlp-receiver.js";
import { localPageTokenKey } from "./page-token-key.js";
import { isPortFree, freePort } from "./ports.js";
import { startService } from "./service-runner.js";
import { startWebPageServer, type WebPageServer } from "./web-page-server.js";

/** One running piece of the mesh, stopped in reverse start order. */
interface Part {
  name: string;
  stop(): Promise<void>;
  process?: ManagedProcess;
  /** What to send when the launcher dies without a clean stop: ask the part to stop on its own. */
  abandonSignal?: NodeJS.Signals;
}

/** The NATS the services use: every node's URL (what NATS_URL takes) and one banner line per node. */
interface NatsInUse {
  url: string;
  lines: NatsLine[];
}

// The port variables of a service; an instance beyond the first gets 0 for each one that is not off.
const portVariables: Record<ServiceName, readonly string[]> = {
  shipping: ["SHIPPING_PORT", "SHIPPING_WEB_PORT", "SHIPPING_METRICS_PORT"],
  orders: ["ORDERS_PORT", "ORDERS_WEB_PORT", "ORDERS_METRICS_PORT"],
  notifier: ["NOTIFIER_PORT", "NOTIFIER_METRICS_PORT"],
};

/** Thrown by start() when a stop began while starting; not a failure to report. */
export class StartInterrupted extends Error {
  override name = "StartInterrupted";
}

/** The whole local mesh: dependencies, services and the web page, started in order and stopped in reverse. */
export class Mesh {
  private readonly parts: Part[] = [];
  /** What the operator console lists, in start order. */
  private readonly consoleParts: ConsolePart[] = [];
  private stopRequested = false;
  /** Called when a part exits by itself while the mesh runs. */
  onUnexpectedExit: (name: string, exit: ProcessExit) => void = () => {};

  constructor(private readonly print: LinePrinter) {}

  /** Whether stop() was called. */
  get stopping(): boolean {
    return this.stopRequested;
  }

  /** Binds the web page server, starts PostgreSQL and NATS (unless given), then shipping -> orders -> notifier. */
  async start(config: MeshConfig): Promise<MeshSummary> {
    const host = "127.0.0.1";
    if (config.reset) await this.reset(config.dataDir);
    // 0755 so the "postgres" OS user (when the launcher runs as root) can reach its folder inside.
    await mkdir(config.dataDir, { recursive: true, mode: 0o755 });

    // The page server binds first and holds its port from the start: picked free here and bound after
    // the services, another listener (a service's port 0) could take it in between (EADDRINUSE, seen in CI).
    const issuer = await ensureDevIssuer(config.dataDir);
    const page = await this.startWebPage(config.webPort, host, issuer.signer);
    const tlsDir = join(config.dataDir, "tls");
    const certs = await ensureDevCertificates(tlsDir, serviceNames);
    const ca = await readFile(certs.caFile);
    // Started before the services and so stopped after them: their last spans are flushed at shutdown.
    const tracing = await this.startTracing(host);
    const admin = createConsoleAdmin(issuer.signer, ca);
    this.add({ name: "console", stop: async () => admin.close() });
    page?.setConsoleApi(createConsoleApi({ parts: () => this.consoleParts, admin, tracing }));
    const { postgres, nats } = await this.startDependencies(config);
    const emailDir = process.env.EMAIL_DIR ?? join(config.dataDir, "emails");
    // The web ports stay plaintext on loopback: a browser does not trust the dev CA, and the page's
    // calls (fetch) fail silently on a certificate error instead of offering to trust it.
    const env: NodeJS.ProcessEnv = { WEB_TLS: "off", ...process.env, NATS_URL: nats.url, EMAIL_DIR: emailDir, TLS_CA_FILE: certs.caFile };
    // A copy of every stream on every node of the local cluster, so one node down loses no acknowledged event.
    if (config.natsCluster !== undefined) env.STREAM_REPLICAS ??= String(config.natsCluster);
    // The launcher is the dev issuer: services verify against its JWKS file, `npm run token` signs with its key.
    delete env.AUTH_JWKS_URL;
    Object.assign(env, { AUTH_JWKS_FILE: issuer.jwksFile, AUTH_ISSUER: issuer.issuer, AUTH_AUDIENCE: defaultAudience });
    env.PAGE_TOKEN_KEY ??= await localPageTokenKey(config.dataDir);
    // A simulated carrier moves shipments along, so a local order goes all the way to DELIVERED; the
    // user's own values (or "off") win.
    env.CARRIER_PICKUP_AFTER ??= "20s";
    env.CARRIER_DELIVER_AFTER ??= "40s";
    // The services allow the web page's origin by CORS.
    if (page) env.CORS_ORIGINS ??= `http://${host}:${page.port},http://localhost:${page.port}`;
    if (tracing.mode === "receiver") {
      // The services export to the launcher's receiver, every trace: it is what the console shows.
      Object.assign(env, { OTEL_EXPORTER_OTLP_ENDPOINT: tracing.receiver.url, OTEL_EXPORTER_OTLP_PROTOCOL: "http/protobuf" });
      env.OTEL_TRACES_SAMPLER ??= "parentbased_always_on";
    }
    for (const name of serviceNames) {
      env[`${name.toUpperCase()}_DATABASE_URL`] = config.databaseUrls[name] ?? withDatabase(postgres ?? "", name);
    }
    this.consoleParts.push(
      ...postgresParts(serviceNames.map((name) => env[`${name.toUpperCase()}_DATABASE_URL`]!)),
      ...nats.lines.map((line) => natsPart(line.url, line.name)),
    );

    const instances: ServiceInstance[] = [];
    for (const name of serviceNames) {
      const started = await this.startInstances(name, config.replicas[name], { ...env, TLS_CERT_FILE: certs.services[name]!.certFile, TLS_KEY_FILE: certs.services[name]!.keyFile });
      instances.push(...started);
      this.consoleParts.push(...started.map((instance) => servicePart(instance.name, host, instance.endpoints, ca)));
      // Every replica reads the same database and streams, so the first one's AdminService speaks for all.
      if ((adminServiceNames as readonly string[]).includes(name)) admin.connect(name as (typeof adminServiceNames)[number], `${host}:${started[0]!.endpoints.grpcPort}`);
      // orders calls shipping: one instance where it really listens (its port may have been 0); several
      // through the NATS service API, balanced round-robin over the replicas that answer.
      if (name === "shipping") env.SHIPPING_ADDR ??= started.length > 1 ? "nats-service:///shipping" : `${host}:${started[0]!.endpoints.grpcPort}`;
    }

    const orders = instances.find((instance) => instance.service === "orders")?.endpoints;
    const apiUrl = orders?.webPort === undefined ? undefined : `http://${host}:${orders.webPort}`;
    page?.setApiUrl(apiUrl);
    const webPageUrl = page && `http://${host}:${page.port}/${apiUrl ? `?api=${apiUrl}` : ""}`;
    const consoleUrl = page && `http://${host}:${page.port}/console`;
    const replicated = instances.length > serviceNames.length;
    return {
      host,
      services: instances,
      caFile: certs.caFile,
      postgres: postgres ? `${postgres} (embedded, data in ${join(config.dataDir, "postgres")})` : "given by *_DATABASE_URL / DATABASE_URL",
      nats: nats.lines,
      natsCluster: config.natsCluster === undefined ? undefined : { url: nats.url, streamReplicas: env.STREAM_REPLICAS! },
      discovery: replicated ? { natsUrl: redact(nats.url.split(",")[0]!), shippingAddr: env.SHIPPING_ADDR! } : undefined,
      emailDir,
      webPageUrl,
      consoleUrl,
      traces: describeTracing(tracing),
      carrier: { pickupAfter: env.CARRIER_PICKUP_AFTER, deliverAfter: env.CARRIER_DELIVER_AFTER },
    };
  }

  /** Stops every part in reverse start order, each after the one that depends on it. */
  async stop(): Promise<void> {
    this.stopRequested = true;
    for (const part of [...this.parts].reverse()) {
      try {
        await part.stop();
      } catch (err) {
        this.print(`error stopping ${part.name}: ${err instanceof Error ? err.message : String(err)}`);
      }
    }
  }

  /** Synchronously signals every still running process group: SIGKILL, or each part's own stop signal when abandoning. */
  signalAll(mode: "kill" | "abandon"): void {
    for (const part of this.parts) part.process?.signalGroup(mode === "kill" ? "SIGKILL" : (part.abandonSignal ?? "SIGTERM"));
  }

  /**
   * Starts count instances of a service side by side and waits until each listens. The first keeps the
   * configured ports (the documented ones by default); the others bind free ports, shown in the banner.
   */
  private async startInstances(service: ServiceName, count: number, env: NodeJS.ProcessEnv): Promise<ServiceInstance[]> {
    const runs = Array.from({ length: count }, (_, i) => {
      const name = count === 1 ? service : `${service}-${i + 1}`;
      const ports = i === 0 ? {} : Object.fromEntries(portVariables[service].filter((v) => env[v] !== "off").map((v) => [v, "0"]));
      const run = startService({ name, script: `services/${service}/main.js`, env: { ...env, ...ports }, print: createPrinter(name), keepLogLines: 100 });
      this.add({ name, stop: async () => void (await run.stop()), process: run.process, abandonSignal: "SIGTERM" });
      return run;
    });
    const endpoints = await Promise.all(runs.map((run) => run.ready));
    this.checkNotStopping();
    return runs.map((run, i) => ({ name: run.name, service, endpoints: endpoints[i]! }));
  }

  private async startDependencies(config: MeshConfig): Promise<{ postgres: string | undefined; nats: NatsInUse }> {
    const needsPostgres = serviceNames.some((name) => config.databaseUrls[name] === undefined);
    // Started side by side; allSettled so a part that came up is still registered (and stopped) when the other fails.
    const [postgres, nats] = await Promise.allSettled([
      needsPostgres ? this.startPostgres(config) : Promise.resolve(undefined),
      config.natsUrl ? Promise.resolve(givenNats(config.natsUrl)) : config.natsCluster === undefined ? this.startNats(config) : this.startNatsCluster(config, config.natsCluster),
    ]);
    if (postgres.status === "rejected") throw postgres.reason;
    if (nats.status === "rejected") throw nats.reason;
    this.checkNotStopping();
    return { postgres: postgres.value, nats: nats.value };
  }

  private async startPostgres(config: MeshConfig): Promise<string> {
    const dataDir = join(config.dataDir, "postgres");
    this.print(`starting embedded PostgreSQL on 127.0.0.1:${config.postgresPort}, data in ${dataDir}`);
    const postgres = await startEmbeddedPostgres({ dataDir, port: config.postgresPort });
    // Registered before it is ready, so a Ctrl-C during start-up stops it too.
    this.add({ name: "postgres", stop: postgres.stop, process: postgres.process, abandonSignal: "SIGINT" });
    await postgres.ready;
    return postgres.url;
  }

  /** MESH_NATS_PORT, else 4222 when free, else any free port. */
  private async natsPort(config: MeshConfig): Promise<number> {
    if (config.natsPort !== undefined) return config.natsPort;
    // 4222 is NATS's well-known port; when something (often another nats-server) has it, any free port will do.
    const port = (await isPortFree(4222)) ? 4222 : await freePort();
    if (port !== 4222) this.print(`port 4222 is taken; the local nats-server uses ${port} (set MESH_NATS_PORT to choose)`);
    return port;
  }

  private async startNats(config: MeshConfig): Promise<NatsInUse> {
    const port = await this.natsPort(config);
    const storeDir = join(config.dataDir, "nats");
    this.print(`starting nats-server with JetStream on 127.0.0.1:${port}, store in ${storeDir}`);
    const nats = await startNatsServer({ port, storeDir });
    this.add({ name: "nats", stop: nats.stop, process: nats.process, abandonSignal: "SIGTERM" });
    await nats.ready;
    return { url: nats.url, lines: [{ name: "nats", url: nats.url, detail: `${nats.url} (local nats-server, JetStream store in ${storeDir})` }] };
  }

  /** A local JetStream cluster: the first node on the single server's port, the others on free ones. */
  private async startNatsCluster(config: MeshConfig, size: number): Promise<NatsInUse> {
    const first = await this.natsPort(config);
    const ports = [first, ...(await Promise.all(Array.from({ length: size - 1 }, () => freePort())))];
    const storeDir = join(config.dataDir, "nats-cluster");
    this.print(`starting a ${size}-node NATS cluster with JetStream on 127.0.0.1:${ports.join(",")}, stores in ${storeDir}`);
    const cluster = await startNatsCluster({ size, storeDir, ports });
    cluster.nodes.forEach((node, i) => this.add({ name: `nats-${i}`, stop: node.stop, process: node.process, abandonSignal: "SIGTERM" }));
    await cluster.ready;
    return {
      url: cluster.url,
      lines: cluster.nodes.map((node, i) => ({ name: `nats-${i}`, url: node.url, detail: `${node.url} (JetStream cluster node, store in ${join(storeDir, `node-${i}`)})` })),
    };
  }

  /**
   * The launcher's OTLP/HTTP receiver on a free loopback port, keeping the last traces in memory for the
   * console; not when the user exports elsewhere (OTEL_EXPORTER_OTLP_ENDPOINT) or switched the SDK off.
   */
  private async startTracing(host: string): Promise<TracingMode> {
    if (process.env.OTEL_SDK_DISABLED === "true") return { mode: "off" };
    const endpoint = process.env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT || process.env.OTEL_EXPORTER_OTLP_ENDPOINT;
    if (endpoint) return { mode: "external", endpoint: redact(endpoint) };
    const receiver = await startOtlpReceiver({ host, port: 0 });
    this.add({ name: "trace receiver", stop: receiver.close });
    return { mode: "receiver", receiver };
  }

  /** Binds the page server (undefined when disabled or not built); it learns the orders web port later. */
  private async startWebPage(port: number | undefined, host: string, signer: TokenSigner): Promise<WebPageServer | undefined> {
    if (port === undefined) return undefined;
    const root = projectPath("dist/web");
    if (!existsSync(join(root, "index.html"))) {
      this.print("the web page is not built (npm run build:web); serving no page");
      return undefined;
    }
    const devToken = (customerId: string) => mintToken(signer, { customerId, email: devEmail(customerId) });
    const server = await startWebPageServer({ root, host, port, devToken });
    this.add({ name: "web page", stop: server.close });
    return server;
  }

  private add(part: Part): void {
    this.parts.push(part);
    void part.process?.exited.then((exit) => {
      if (!this.stopRequested) this.onUnexpectedExit(part.name, exit);
    });
  }

  private checkNotStopping(): void {
    if (this.stopRequested) throw new StartInterrupted("stopped while starting");
  }

  private async reset(dataDir: string): Promise<void> {
    const root = projectPath(".");
    // A mistyped MESH_DATA_DIR must never take the project (or anything above it) with it.
    if (dataDir === root || root.startsWith(dataDir.endsWith(sep) ? dataDir : dataDir + sep)) {
      throw new Error(`refusing to delete ${dataDir}: it contains the project`);
    }
    this.print(`--reset: deleting ${dataDir}`);
    await rm(dataDir, { recursive: true, force: true });
  }
}

/** A NATS given by NATS_URL (one server or a cluster's list), shown without credentials. */
function givenNats(url: string): NatsInUse {
  const servers = url.split(",").map((server) => server.trim());
  const name = (i: number) => (servers.length === 1 ? "nats" : `nats-${i}`);
  return { url, lines: servers.map((server, i) => ({ name: name(i), url: server, detail: `${redact(server)} (given by NATS_URL)` })) };
}

/** The banner's line on traces. */
function describeTracing(tracing: TracingMode): string {
  if (tracing.mode === "off") return "off (OTEL_SDK_DISABLED=true)";
  if (tracing.mode === "external") return `exported to ${tracing.endpoint} (OTEL_EXPORTER_OTLP_ENDPOINT)`;
  return `OTLP/HTTP receiver ${tracing.receiver.url}: the last traces are kept in memory for the console`;
}
