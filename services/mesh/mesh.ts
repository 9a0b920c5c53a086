import { existsSync } from "node:fs";
import { mkdir, readFile, rm } from "node:fs/promises";
import { join, sep } from "node:path";
import { projectPath, redact } from "../platform/db/index.js";
import type { MeshSummary } from "./banner.js";
import { startChildService, type ServiceEndpoints } from "./child-service.js";
import { adminServiceNames, createConsoleAdmin } from "./console-admin.js";
import { createConsoleApi, type ConsolePart, type TracingMode } from "./console-api.js";
import { natsPart, postgresParts, servicePart } from "./console-parts.js";
import { defaultAudience, devEmail, ensureDevIssuer, mintToken, type TokenSigner } from "./dev-issuer.js";
import { ensureDevCertificates } from "./dev-certificates.js";
import { startEmbeddedPostgres } from "./embedded-postgres.js";
import type { LinePrinter } from "./log-output.js";
import type { ManagedProcess, ProcessExit } from "./managed-process.js";
import { serviceNames, withDatabase, type MeshConfig, type ServiceName } from "./mesh-config.js";
import { startNatsServer } from "./nats-server.js";
import { startOtlpReceiver } from "./otlp-receiver.js";
import { localPageTokenKey } from "./page-token-key.js";
import { isPortFree, freePort } from "./ports.js";
import { startWebPageServer, type WebPageServer } from "./web-page-server.js";

/** One running piece of the mesh, stopped in reverse start order. */
interface Part {
  name: string;
  stop(): Promise<void>;
  process?: ManagedProcess;
  /** What to send when the launcher dies without a clean stop: ask the part to stop on its own. */
  abandonSignal?: NodeJS.Signals;
}

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
    const env: NodeJS.ProcessEnv = { WEB_TLS: "off", ...process.env, NATS_URL: nats, EMAIL_DIR: emailDir, TLS_CA_FILE: certs.caFile };
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
    this.consoleParts.push(...postgresParts(serviceNames.map((name) => env[`${name.toUpperCase()}_DATABASE_URL`]!)), natsPart(nats));

    const services: Partial<Record<ServiceName, ServiceEndpoints>> = {};
    for (const name of serviceNames) {
      // Each service's own certificate: its server identity and, for orders, the client identity shipping checks.
      const { certFile, keyFile } = certs.services[name]!;
      const child = startChildService(name, { ...env, TLS_CERT_FILE: certFile, TLS_KEY_FILE: keyFile });
      this.add({ name, stop: child.stop, process: child.process, abandonSignal: "SIGTERM" });
      services[name] = await child.ready;
      this.checkNotStopping();
      this.consoleParts.push(servicePart(name, host, services[name], ca));
      if ((adminServiceNames as readonly string[]).includes(name)) admin.connect(name as (typeof adminServiceNames)[number], `${host}:${services[name].grpcPort}`);
      // orders calls shipping; tell it where shipping really listens (its port may have been 0).
      if (name === "shipping") env.SHIPPING_ADDR ??= `${host}:${services[name].grpcPort}`;
    }

    const apiUrl = services.orders?.webPort === undefined ? undefined : `http://${host}:${services.orders.webPort}`;
    page?.setApiUrl(apiUrl);
    const webPageUrl = page && `http://${host}:${page.port}/${apiUrl ? `?api=${apiUrl}` : ""}`;
    const consoleUrl = page && `http://${host}:${page.port}/console`;
    return {
      host,
      services,
      caFile: certs.caFile,
      postgres: postgres ? `${postgres} (embedded, data in ${join(config.dataDir, "postgres")})` : "given by *_DATABASE_URL / DATABASE_URL",
      nats: config.natsUrl ? `${redact(config.natsUrl)} (given by NATS_URL)` : `${nats} (local nats-server, JetStream store in ${join(config.dataDir, "nats")})`,
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

  private async startDependencies(config: MeshConfig): Promise<{ postgres: string | undefined; nats: string }> {
    const needsPostgres = serviceNames.some((name) => config.databaseUrls[name] === undefined);
    // Started side by side; allSettled so a part that came up is still registered (and stopped) when the other fails.
    const [postgres, nats] = await Promise.allSettled([
      needsPostgres ? this.startPostgres(config) : Promise.resolve(undefined),
      config.natsUrl ? Promise.resolve(config.natsUrl) : this.startNats(config),
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

  private async startNats(config: MeshConfig): Promise<string> {
    let port = config.natsPort;
    if (port === undefined) {
      // 4222 is NATS's well-known port; when something (often another nats-server) has it, any free port will do.
      port = (await isPortFree(4222)) ? 4222 : await freePort();
      if (port !== 4222) this.print(`port 4222 is taken; the local nats-server uses ${port} (set MESH_NATS_PORT to choose)`);
    }
    const storeDir = join(config.dataDir, "nats");
    this.print(`starting nats-server with JetStream on 127.0.0.1:${port}, store in ${storeDir}`);
    const nats = await startNatsServer({ port, storeDir });
    this.add({ name: "nats", stop: nats.stop, process: nats.process, abandonSignal: "SIGTERM" });
    await nats.ready;
    return nats.url;
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

/** The banner's line on traces. */
function describeTracing(tracing: TracingMode): string {
  if (tracing.mode === "off") return "off (OTEL_SDK_DISABLED=true)";
  if (tracing.mode === "external") return `exported to ${tracing.endpoint} (OTEL_EXPORTER_OTLP_ENDPOINT)`;
  return `OTLP/HTTP receiver ${tracing.receiver.url}: the last traces are kept in memory for the console`;
}
