import { infrastructure, postgresInitDir } from "./compose-infra-checks.js";
import type { ComposeFile, ComposeService } from "./compose-model.js";
import { parsePostgresInit, type PostgresInit } from "./compose-postgres-init.js";
import { hostPathMountedAt, serviceByImage } from "./compose-service-checks.js";

// The ordermesh processes in compose: their environments must satisfy their own config loaders,
// and every address a loader returns must reach a compose service that listens there.

/** One outbound connection of an app, named by the variable that configures it. */
export interface AppDependency {
  variable: string;
  kind: "postgres" | "nats" | "smtp" | "grpc" | "otlp";
  /** A URL (postgres, nats, smtp, otlp) or host:port (grpc). */
  target: string;
}

/** What the checks need from an app's loaded config. */
export interface AppView {
  bindHost: string;
  grpcPort: number;
  /** Port of its GET /metrics (*_METRICS_PORT); undefined when off. */
  metricsPort: number | undefined;
  /** Where it exports traces (the OTLP/HTTP traces URL); undefined when tracing is off. */
  tracesUrl: string | undefined;
  /** Copies of each stream it declares (STREAM_REPLICAS). */
  streamReplicas: number;
  dependencies: AppDependency[];
}

/** Turns a compose environment into an AppView with the app's real config loader; throws if it rejects it. */
export type AppLoader = (env: Record<string, string>) => AppView;

/** An app service whose environment its config loader accepted. */
export interface LoadedApp {
  app: string;
  service: ComposeService;
  view: AppView;
}

/** Where the postgres init scripts live on the host, and how to read them. */
export type ReadInitScripts = (hostDir: string) => string[];

const healthProbe = "dist/services/platform/rpc/health-probe.js";

/** Loads every app's config from its compose service; reports apps missing or rejected. */
export function loadApps(compose: ComposeFile, loaders: Readonly<Record<string, AppLoader>>): { apps: LoadedApp[]; problems: string[] } {
  const apps: LoadedApp[] = [];
  const problems: string[] = [];
  for (const [app, load] of Object.entries(loaders)) {
    const entry = `dist/services/${app}/main.js`;
    const runners = [...compose.services.values()].filter((service) => service.command.includes(entry));
    if (runners.length !== 1) {
      problems.push(`${runners.length === 0 ? "no" : "more than one"} compose service runs ${entry}`);
      continue;
    }
    const service = runners[0] as ComposeService;
    if (service.name !== app) problems.push(`${service.name}: runs ${app}; name the service "${app}" (it is also its hostname and Envoy cluster)`);
    if (service.command.join(" ") !== `node ${entry}`) problems.push(`${service.name}: command must be "node ${entry}", got "${service.command.join(" ")}"`);
    try {
      apps.push({ app, service, view: load(service.environment) });
    } catch (error) {
      problems.push(`${service.name}: its config loader rejects the environment: ${(error as Error).message}`);
    }
  }
  return { apps, problems };
}

/** Each app listens where others can reach it, is health-probed on its port, and its dependencies resolve. */
export function appProblems(compose: ComposeFile, apps: readonly LoadedApp[], readInitScripts: ReadInitScripts): string[] {
  const problems: string[] = [];
  const init = postgresInit(compose, readInitScripts);
  const databases = new Map<string, string>();
  for (const { service, view } of apps) {
    if (view.bindHost !== "0.0.0.0" && view.bindHost !== "::") {
      problems.push(`${service.name}: BIND_HOST is ${view.bindHost}; other containers reach it only on 0.0.0.0`);
    }
    problems.push(...probeProblems(service, view.grpcPort));
    for (const dependency of view.dependencies) {
      const where = `${service.name}: ${dependency.variable}=${dependency.target}`;
      const address = parseAddress(dependency);
      const target = compose.services.get(address.host);
      if (target === undefined) {
        problems.push(`${where} points at host "${address.host}", which is no compose service`);
        continue;
      }
      if (!(address.host in service.dependsOn)) problems.push(`${where}: ${service.name} does not depend_on ${address.host}`);
      const expectedPort = listenPort(dependency.kind, target, apps);
      if (expectedPort === undefined) problems.push(`${where}: ${address.host} does not serve ${dependency.kind}`);
      else if (address.port !== expectedPort) problems.push(`${where}: ${address.host} listens on ${expectedPort}, not ${address.port}`);
      if (dependency.kind === "postgres") {
        problems.push(...databaseProblems(where, address, init));
        const owner = databases.get(address.database);
        if (owner !== undefined) problems.push(`${where}: database ${address.database} already belongs to ${owner}; each service owns its database`);
        databases.set(address.database, service.name);
      }
    }
  }
  return problems;
}

function probeProblems(service: ComposeService, grpcPort: number): string[] {
  const test = service.healthcheck ?? [];
  const index = test.indexOf(healthProbe);
  if (index === -1) return [`${service.name}: healthcheck must run node ${healthProbe} <host:port> (grpc.health.v1)`];
  const address = test[index + 1] ?? "";
  const port = Number(address.split(":").at(-1));
  return port === grpcPort ? [] : [`${service.name}: healthcheck probes ${address}, but the service listens on ${grpcPort}`];
}

function listenPort(kind: AppDependency["kind"], target: ComposeService, apps: readonly LoadedApp[]): number | undefined {
  if (kind === "grpc") return apps.find((app) => app.service === target)?.view.grpcPort;
  const infra = infrastructure.find((candidate) => candidate.kind === kind);
  return infra && target.image?.split(":")[0] === infra.repository ? infra.port(target) : undefined;
}

interface Address {
  host: string;
  port: number;
  database: string;
  user: string;
  password: string;
}

const defaultPorts: Readonly<Record<string, number>> = { postgres: 5432, postgresql: 5432, nats: 4222, tls: 4222, smtp: 25, smtps: 465, http: 80, https: 443 };

function parseAddress(dependency: AppDependency): Address {
  if (dependency.kind === "grpc") {
    const colon = dependency.target.lastIndexOf(":");
    return { host: dependency.target.slice(0, colon), port: Number(dependency.target.slice(colon + 1)), database: "", user: "", password: "" };
  }
  const url = new URL(dependency.target);
  const scheme = url.protocol.replace(/:$/, "");
  return {
    host: url.hostname,
    port: url.port === "" ? (defaultPorts[scheme] ?? 0) : Number(url.port),
    database: decodeURIComponent(url.pathname.slice(1)),
    user: decodeURIComponent(url.username),
    password: decodeURIComponent(url.password),
  };
}

function postgresInit(compose: ComposeFile, readInitScripts: ReadInitScripts): PostgresInit {
  const postgres = serviceByImage(compose, "postgres");
  const hostDir = postgres && hostPathMountedAt(postgres, postgresInitDir);
  return parsePostgresInit(hostDir === undefined ? [] : readInitScripts(hostDir));
}

function databaseProblems(where: string, address: Address, init: PostgresInit): string[] {
  const problems: string[] = [];
  if (!init.databases.has(address.database)) {
    problems.push(`${where}: no init script in ${postgresInitDir} creates database "${address.database}"`);
  } else if (init.databases.get(address.database) !== address.user) {
    problems.push(`${where}: database ${address.database} is owned by ${init.databases.get(address.database) ?? "postgres"}, not by ${address.user}`);
  }
  if (!init.roles.has(address.user)) problems.push(`${where}: no init script creates role "${address.user}"`);
  else if (init.roles.get(address.user) !== address.password) problems.push(`${where}: the password differs from the one the init script gives role ${address.user}`);
  return problems;
}
