import type { LoadedApp } from "./compose-app-checks.js";
import type { ComposeFile } from "./compose-model.js";
import { serviceByImage } from "./compose-service-checks.js";
import { child, clusters, connectionManagers, type Json, socketAddress } from "./envoy-config-model.js";

const defaultConfigPath = "/etc/envoy/envoy.yaml";

/**
 * The envoy service runs this repository's envoy.yaml, publishes its listener, and its clusters reach the
 * apps; clusters reaching one of `checkedElsewhere` (the rate limit service) are left to their own checks.
 */
export function envoyComposeProblems(
  compose: ComposeFile,
  apps: readonly LoadedApp[],
  bootstrap: Json,
  envoyYamlPath: string,
  checkedElsewhere: ReadonlySet<string> = new Set(),
): string[] {
  const envoy = serviceByImage(compose, "envoyproxy/envoy");
  if (envoy === undefined) return ["no service runs the envoyproxy/envoy image"];
  const problems: string[] = [];
  const configFlag = envoy.command.findIndex((word) => word === "-c" || word === "--config-path");
  const configPath = configFlag === -1 ? defaultConfigPath : (envoy.command[configFlag + 1] ?? "");
  const mount = envoy.volumes.find((volume) => volume.target === configPath);
  if (mount === undefined || mount.source.replace(/^\.\//, "") !== envoyYamlPath) {
    problems.push(`${envoy.name}: must mount ./${envoyYamlPath} at ${configPath}, the config it starts with`);
  }
  for (const manager of connectionManagers(bootstrap)) {
    if (!envoy.ports.some((port) => port.container === manager.port)) {
      problems.push(`${envoy.name}: listener ${manager.listener} on :${manager.port ?? "?"} is not published in ports`);
    }
  }
  const admin = socketAddress(child(child(bootstrap, "admin"), "address"));
  if (admin !== undefined && envoy.ports.some((port) => port.container === admin.port)) {
    problems.push(`${envoy.name}: publishes the admin port ${admin.port}; the admin API must stay inside the container`);
  }
  for (const cluster of clusters(bootstrap)) {
    for (const endpoint of cluster.endpoints) {
      const where = `envoy cluster ${cluster.name} -> ${endpoint.host}:${endpoint.port}`;
      const app = apps.find((candidate) => candidate.service.name === endpoint.host);
      if (app === undefined && checkedElsewhere.has(endpoint.host)) continue;
      if (app === undefined) {
        problems.push(`${where}: ${endpoint.host} is no ordermesh service in docker-compose.yml`);
        continue;
      }
      if (cluster.name !== endpoint.host) problems.push(`${where}: name the cluster after the service it reaches`);
      if (endpoint.port !== app.view.grpcPort) problems.push(`${where}: ${endpoint.host} serves gRPC on ${app.view.grpcPort}`);
      if (!(endpoint.host in envoy.dependsOn)) problems.push(`${where}: ${envoy.name} does not depend_on ${endpoint.host}`);
    }
  }
  return problems;
}
