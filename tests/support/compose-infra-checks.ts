import type { ComposeFile, ComposeService } from "./compose-model.js";
import type { LoadedApp } from "./compose-app-checks.js";
import { hostPathMountedAt, serviceByImage } from "./compose-service-checks.js";

/** Where the postgres image runs its first-start scripts from. */
export const postgresInitDir = "/docker-entrypoint-initdb.d";

/** What an infrastructure image serves and on which port the app environments must point. */
export interface Infrastructure {
  kind: "postgres" | "nats" | "smtp" | "otlp";
  repository: string;
  port(service: ComposeService): number;
}

/** The infrastructure images the stack uses, by the kind of connection they accept. */
export const infrastructure: readonly Infrastructure[] = [
  { kind: "postgres", repository: "postgres", port: () => 5432 },
  { kind: "nats", repository: "nats", port: (service) => Number(flag(service.command, "-p", "--port") ?? 4222) },
  // Mailpit's SMTP listener (its web UI is on 8025).
  { kind: "smtp", repository: "axllent/mailpit", port: () => 1025 },
  // Jaeger's OTLP/HTTP receiver (its UI is on 16686, OTLP/gRPC on 4317, which ordermesh does not speak).
  { kind: "otlp", repository: "jaegertracing/all-in-one", port: () => 4318 },
];

/** PostgreSQL keeps its data on a volume and gets its init scripts; NATS runs JetStream on a volume. */
export function infrastructureProblems(compose: ComposeFile, readFile: ReadComposeFile): string[] {
  const problems: string[] = [];
  const postgres = serviceByImage(compose, "postgres");
  if (postgres === undefined) {
    problems.push("no postgres service");
  } else {
    if (hostPathMountedAt(postgres, "/var/lib/postgresql/data") === undefined) {
      problems.push(`${postgres.name}: /var/lib/postgresql/data is not on a volume, so data dies with the container`);
    }
    if (hostPathMountedAt(postgres, postgresInitDir) === undefined) {
      problems.push(`${postgres.name}: nothing is mounted at ${postgresInitDir}, so the service databases are never created`);
    }
  }
  const natsNodes = [...compose.services.values()].filter((service) => service.image?.split(":")[0] === "nats");
  if (natsNodes.length === 0) return [...problems, "no nats service"];
  return [...problems, ...natsNodes.flatMap((node) => natsNodeProblems(node, natsNodes, readFile))];
}

/** Reads a file of the repository by its path relative to the compose file. */
export type ReadComposeFile = (hostPath: string) => string;

/**
 * One NATS node: JetStream on, its store on a volume; configured by flags (-js -sd) or by a mounted
 * config file (-c), which for a cluster must route to every node, name the node uniquely and sync
 * every write to disk (sync_interval: always).
 */
function natsNodeProblems(node: ComposeService, nodes: readonly ComposeService[], readFile: ReadComposeFile): string[] {
  const configPath = flag(node.command, "-c", "--config");
  if (configPath === undefined) {
    const problems: string[] = [];
    if (nodes.length > 1) problems.push(`${node.name}: a cluster node needs a config file (-c) with its cluster block`);
    if (!node.command.includes("-js") && !node.command.includes("--jetstream")) problems.push(`${node.name}: JetStream is off (add -js)`);
    const storeDir = flag(node.command, "-sd", "--store_dir");
    if (storeDir === undefined) problems.push(`${node.name}: no JetStream store dir (-sd)`);
    else if (hostPathMountedAt(node, storeDir) === undefined) problems.push(`${node.name}: JetStream store ${storeDir} is not on a volume`);
    return problems;
  }
  const hostPath = hostPathMountedAt(node, configPath);
  if (hostPath === undefined) return [`${node.name}: its config file ${configPath} is not mounted`];
  const config = readFile(hostPath);
  const problems: string[] = [];
  const jetstream = /jetstream\s*\{([^}]*)\}/.exec(config)?.[1];
  if (jetstream === undefined) return [`${node.name}: ${hostPath} has no jetstream block`];
  const storeDir = /store_dir:\s*(\S+)/.exec(jetstream)?.[1];
  if (storeDir === undefined) problems.push(`${node.name}: no JetStream store_dir in ${hostPath}`);
  else if (hostPathMountedAt(node, storeDir) === undefined) problems.push(`${node.name}: JetStream store ${storeDir} is not on a volume`);
  if (!/sync_interval:\s*always/.test(jetstream)) problems.push(`${node.name}: ${hostPath} does not sync every write (sync_interval: always), so an OS crash can lose acknowledged events`);
  if (nodes.length > 1) {
    const serverName = /server_name:\s*\$(\w+)/.exec(config)?.[1];
    const names = nodes.map((n) => (serverName ? n.environment[serverName] : undefined));
    if (!serverName || !node.environment[serverName]) problems.push(`${node.name}: no server_name of its own (server_name: $SERVER_NAME in ${hostPath} and SERVER_NAME in its environment)`);
    else if (names.filter((name) => name === node.environment[serverName]).length > 1) problems.push(`${node.name}: server_name ${node.environment[serverName]} is not unique in the cluster`);
    const routes = /cluster\s*\{[\s\S]*?routes:\s*\[([^\]]*)\]/.exec(config)?.[1] ?? "";
    for (const other of nodes) {
      if (!new RegExp(`nats://${other.name}:\\d+`).test(routes)) problems.push(`${node.name}: ${hostPath}'s cluster routes do not include ${other.name}`);
    }
  }
  return problems;
}

/** With a NATS cluster, every app knows every node and keeps as many copies of its streams as there are nodes. */
export function natsClusterProblems(compose: ComposeFile, apps: readonly LoadedApp[]): string[] {
  const nodes = [...compose.services.values()].filter((service) => service.image?.split(":")[0] === "nats");
  if (nodes.length < 2) return [];
  return apps.flatMap(({ service, view }) => {
    const problems: string[] = [];
    const hosts = new Set(view.dependencies.filter((d) => d.kind === "nats").map((d) => new URL(d.target).hostname));
    for (const node of nodes) if (!hosts.has(node.name)) problems.push(`${service.name}: NATS_URL does not list ${node.name}, so it cannot fail over to it`);
    if (view.streamReplicas !== nodes.length) problems.push(`${service.name}: STREAM_REPLICAS is ${view.streamReplicas} on a ${nodes.length}-node cluster; each stream should keep a copy on every node`);
    return problems;
  });
}

function flag(command: readonly string[], ...names: string[]): string | undefined {
  const index = command.findIndex((word) => names.includes(word));
  return index === -1 ? undefined : command[index + 1];
}
