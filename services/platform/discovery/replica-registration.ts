import { readFileSync } from "node:fs";
import { hostname } from "node:os";
import type { NatsConnection } from "@nats-io/transport-node";
import { Svcm, type Service } from "@nats-io/services";
import { projectPath } from "../db/index.js";
import type { Logger } from "../process/logger.js";

/** Where one replica serves, as it tells the mesh (host:port each). */
export interface ReplicaEndpoints {
  /** The gRPC port: what clients of the service balance over. */
  grpc: string;
  /** The Connect / gRPC-Web port, when it has one. */
  web?: string | undefined;
  /** The Prometheus /metrics port, when it serves one. */
  metrics?: string | undefined;
}

/** A replica's entry in the NATS service API; stop() takes it out. */
export interface ReplicaRegistration {
  /** The id the NATS service API gave this replica (shown by `nats micro ls`). */
  id: string;
  /** Leaves the mesh: $SRV.PING/INFO/STATS stop answering for this replica. */
  stop(): Promise<void>;
}

/**
 * Registers a serving replica with the NATS service API (`$SRV.PING|INFO|STATS.<name>`, what
 * `nats micro ls` and `nats micro info <name>` show) on the connection the process already has. Its
 * addresses travel as the service's metadata; clients discover them with createReplicaDiscovery. No
 * registry of our own: a replica that dies without stop() stops answering pings and so drops out.
 */
export async function registerReplica(nc: NatsConnection, name: string, endpoints: ReplicaEndpoints, logger: Logger): Promise<ReplicaRegistration> {
  const metadata: Record<string, string> = { grpc: endpoints.grpc };
  if (endpoints.web) metadata.web = endpoints.web;
  if (endpoints.metrics) metadata.metrics = endpoints.metrics;
  // @nats-io/services is built on its own copy of nats-core; the connection object is the same protocol client.
  const service: Service = await new Svcm(nc as never).add({
    name,
    version: projectVersion(),
    description: `ordermesh ${name} replica`,
    metadata,
  });
  logger.info({ replicaId: service.info().id, ...metadata }, "registered with the NATS service API");
  return {
    id: service.info().id,
    async stop() {
      if (service.isStopped) return;
      await service.stop();
    },
  };
}

/** A replica's endpoints from its bound ports, at the host others reach it at (advertisedHost). */
export function replicaEndpoints(bindHost: string, ports: { grpc: number; web?: number | undefined; metrics?: number | undefined }): ReplicaEndpoints {
  const host = advertisedHost(bindHost);
  const at = (port: number | undefined) => (port === undefined ? undefined : host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`);
  return { grpc: at(ports.grpc)!, web: at(ports.web), metrics: at(ports.metrics) };
}

/**
 * The host other replicas reach this one at: ADVERTISE_HOST when set, else the bind host unless it is
 * a wildcard (0.0.0.0, ::), where the machine's hostname is what a pod or container resolves to.
 */
export function advertisedHost(bindHost: string, env: NodeJS.ProcessEnv = process.env): string {
  if (env.ADVERTISE_HOST) return env.ADVERTISE_HOST;
  return bindHost === "0.0.0.0" || bindHost === "::" || bindHost === "" ? hostname() : bindHost;
}

let version: string | undefined;

// The service API requires a semver version; the project's is the one every replica of this build shares.
function projectVersion(): string {
  version ??= (JSON.parse(readFileSync(projectPath("package.json"), "utf8")) as { version: string }).version;
  return version;
}

/** A registration that may still be waiting for NATS. */
export interface ReplicaAnnouncement {
  /** Leaves the mesh (or never joins, if NATS has not answered yet); first step of a graceful stop. */
  stop(): Promise<void>;
}

/**
 * Registers the replica once the process's NATS connection is there (NATS may be down when the
 * replica starts serving). A failed registration is logged, not fatal: the replica still serves
 * callers that address it directly, and discovery simply does not list it.
 */
export function announceReplica(connection: Promise<NatsConnection>, name: string, endpoints: ReplicaEndpoints, logger: Logger): ReplicaAnnouncement {
  let stopped = false;
  let registration: ReplicaRegistration | undefined;
  void connection
    .then(async (nc) => {
      if (stopped) return;
      registration = await registerReplica(nc, name, endpoints, logger);
      if (stopped) await registration.stop();
    })
    .catch((err: unknown) => logger.warn({ err: err instanceof Error ? err.message : String(err) }, "could not register with the NATS service API"));
  return {
    async stop() {
      stopped = true;
      // Never waits for a connection that may not come: without one there is nothing to leave.
      if (registration) await registration.stop();
    },
  };
}
