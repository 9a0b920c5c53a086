import * as grpc from "@grpc/grpc-js";
import { Code, ConnectError } from "@connectrpc/connect";
import { clampGrpcJsServerDeadlines } from "./deadline-limits.js";
import { addGrpcService } from "./grpc-adapter.js";
import { watchGrpcJsConnections } from "./grpc-connections.js";
import { HealthReporter, type HealthCheck } from "./health.js";
import type { Logger } from "../process/logger.js";
import type { CallerAuthenticator } from "../identity/jwt-auth.js";
import { addReflection } from "./reflection.js";
import { createLoadShedder } from "./load-shedding.js";
import { defaultCorsOrigins, defaultServerLimits, grpcServerOptions, type ServerLimits } from "./server-limits.js";
import { instrumentService, type ServiceBinding } from "./service-impl.js";
import { warnIfPlaintextExposed, type TlsConfig } from "../identity/tls-config.js";
import { grpcServerCredentials } from "../identity/tls-credentials.js";
import { startWebServer, type WebServer } from "./web-server.js";

/** What one service process serves. */
export interface ServiceHostOptions {
  logger: Logger;
  host: string;
  grpcPort: number;
  /** Browser-facing Connect/gRPC-Web port; omitted for processes without public RPCs. */
  webPort?: number | undefined;
  services: readonly ServiceBinding[];
  /** Verifies bearer tokens for services bound with "customer-token"; required by them. */
  authenticator?: CallerAuthenticator | undefined;
  /** Serve grpc.reflection (default true); REFLECTION=off turns it off in production. */
  reflection?: boolean;
  /** Dependency checks behind grpc.health.v1 (database ping, NATS connection...). */
  healthChecks: readonly HealthCheck[];
  healthIntervalMs?: number;
  /** Origins whose pages may call the web port (default: the `npm start` web page's). */
  corsOrigins?: readonly string[];
  /** Sizes, connections, streams and timeouts; each unset one takes its default (server-limits.ts). */
  limits?: Partial<ServerLimits>;
  /** How long in-flight calls may take to finish on shutdown before they are cut (overrides limits.shutdownGraceMs). */
  shutdownGraceMs?: number;
  /** TLS of both listeners (loadTlsConfig); omitted: plaintext. */
  tls?: TlsConfig;
  /**
   * A port serving grpc.health.v1 alone, in plaintext (HEALTH_PORT; default none): for probes that cannot
   * speak TLS, such as the kubelet's native gRPC probe. It tells only SERVING or NOT_SERVING.
   */
  healthPort?: number | undefined;
}

/** A running service process's servers. */
export interface ServiceHost {
  grpcPort: number;
  webPort: number | undefined;
  /** The plaintext health-only port, when asked for. */
  healthPort: number | undefined;
  health: HealthReporter;
  /** Drains and stops the servers: NOT_SERVING first, open streams end UNAVAILABLE, no new calls, in-flight unary calls finish. */
  stop(): Promise<void>;
}

/** Starts the gRPC server (services, health, reflection) and, if asked, the web server for browsers. */
export async function startServiceHost(options: ServiceHostOptions): Promise<ServiceHost> {
  clampGrpcJsServerDeadlines();
  const limits: ServerLimits = { ...defaultServerLimits, ...options.limits };
  // One shedder for every service of the process: the limit is on the process's work, not per service.
  const shedder = createLoadShedder(limits.maxInFlightCalls);
  // Unary calls in flight at shutdown finish within the grace; an open stream (a watch) would only end
  // when the grace cuts it, so streams are ended at once, UNAVAILABLE: the client calls again elsewhere.
  const streamsDrain = new AbortController();
  const services = options.services.map((s) => instrumentService(s, options.logger, shedder, options.authenticator, streamsDrain.signal));
  const health = new HealthReporter(services.map((s) => s.service.typeName), options.logger);
  const server = new grpc.Server(grpcServerOptions(limits));
  services.forEach((s) => addGrpcService(server, s));
  health.addToServer(server);
  if (options.reflection ?? true) addReflection(server, services.map((s) => s.service));

  const tls = options.tls ?? { identity: undefined, ca: undefined };
  warnIfPlaintextExposed(options.logger, options.host, tls, options.webPort !== undefined);
  const grpcPort = await new Promise<number>((resolve, reject) =>
    server.bindAsync(`${options.host}:${options.grpcPort}`, grpcServerCredentials(tls), (err, port) =>
      err ? reject(err) : resolve(port),
    ),
  );
  const grpcConnections = watchGrpcJsConnections(server, limits);
  const healthOnly = options.healthPort === undefined ? undefined : await startHealthOnlyServer(health, options.host, options.healthPort, limits);
  const shutdown = new AbortController();
  let web: WebServer | undefined;
  if (options.webPort !== undefined && services.length > 0) {
    web = await startWebServer({
      host: options.host,
      port: options.webPort,
      services,
      corsOrigins: options.corsOrigins ?? defaultCorsOrigins,
      limits,
      shutdownSignal: shutdown.signal,
      tls: tls.webPlaintext ? undefined : tls,
    });
  }
  await health.watch(options.healthChecks, options.healthIntervalMs ?? 1000);
  options.logger.info({ grpcPort, webPort: web?.port, healthPort: healthOnly?.port, serving: health.isServing, tls: tls.identity !== undefined, webTls: web?.tls ?? false }, "listening");

  const graceMs = options.shutdownGraceMs ?? limits.shutdownGraceMs;
  return {
    grpcPort,
    webPort: web?.port,
    healthPort: healthOnly?.port,
    health,
    async stop() {
      health.shutdown();
      streamsDrain.abort(new ConnectError("the server is shutting down; call again to continue (on another replica, or on this one once it is back)", Code.Unavailable));
      let cut: NodeJS.Timeout | undefined;
      // Once the grace is over, forceShutdown destroys the HTTP/2 sessions; connections that have none (a
      // TLS handshake or HTTP/2 preface never finished) are destroyed too, and stop waits for neither.
      const forced = new Promise<void>(
        (resolve) =>
          (cut = setTimeout(() => {
            server.forceShutdown();
            grpcConnections.destroyAll();
            healthOnly?.forceShutdown();
            resolve();
          }, graceMs)),
      );
      // The health port answers NOT_SERVING (health.shutdown above) until the main port has drained.
      const drained = new Promise<void>((resolve) => server.tryShutdown(() => resolve())).then(() => healthOnly?.tryShutdown());
      await Promise.all([Promise.race([drained, forced]), web?.close(graceMs)]);
      clearTimeout(cut);
      shutdown.abort();
    },
  };
}

/** A grpc-js server with grpc.health.v1 alone, plaintext, bounded like the main port. */
async function startHealthOnlyServer(
  health: HealthReporter,
  host: string,
  port: number,
  limits: ServerLimits,
): Promise<{ port: number; tryShutdown(): Promise<void>; forceShutdown(): void }> {
  const server = new grpc.Server(grpcServerOptions(limits));
  health.addToServer(server);
  const bound = await new Promise<number>((resolve, reject) =>
    server.bindAsync(`${host}:${port}`, grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
  );
  const connections = watchGrpcJsConnections(server, limits);
  return {
    port: bound,
    tryShutdown: () => new Promise<void>((resolve) => server.tryShutdown(() => resolve())),
    forceShutdown() {
      server.forceShutdown();
      connections.destroyAll();
    },
  };
}
