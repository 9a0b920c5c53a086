import type { ComposeFile, ComposeService } from "./compose-model.js";
import { hostPathMountedAt, serviceByImage } from "./compose-service-checks.js";
import { child, children, clusters, connectionManagers, type Json, text } from "./envoy-config-model.js";
import { customerDescriptorKey, globalRateLimitFilter } from "./envoy-customer-limit-checks.js";

// The per-customer limit in compose: envoyproxy/ratelimit with its Redis, the config file it reads,
// and the envoy.yaml filter and cluster that ask it. Names and variables are the ones its README
// documents (settings.go defaults: GRPC_PORT 8081, RUNTIME_APPDIRECTORY "config").

/** The image repository of the rate limit service. */
export const ratelimitRepository = "envoyproxy/ratelimit";
const defaultGrpcPort = 8081;
const defaultRedisPort = 6379;
const identityMaker = "dist/services/mesh/make-dev-identity.js";

/** A limit as envoyproxy/ratelimit writes it: requests_per_unit per unit. */
export interface CustomerLimit {
  unit: string;
  requestsPerUnit: number;
}

/** The rate limit service's config file and the limit the README promises. */
export interface RatelimitContext {
  /** Path of the config file relative to the compose file, e.g. envoy/ratelimit/config.yaml. */
  configPath: string;
  /** The parsed config file. */
  config: unknown;
  /** The per-customer limit the README's "Gateway" section states. */
  statedLimit: CustomerLimit;
}

/** The compose service that runs envoyproxy/ratelimit, if any. */
export function ratelimitService(compose: ComposeFile): ComposeService | undefined {
  return serviceByImage(compose, ratelimitRepository);
}

/** Problems of the ratelimit and redis services, the config file, and how envoy.yaml reaches them. */
export function ratelimitComposeProblems(compose: ComposeFile, bootstrap: Json, context: RatelimitContext): string[] {
  const filter = connectionManagers(bootstrap)
    .flatMap((manager) => children(manager.config, "http_filters"))
    .find((f) => text(f, "name") === globalRateLimitFilter);
  const service = ratelimitService(compose);
  if (filter === undefined) return service === undefined ? [] : [`${service.name}: runs, but envoy.yaml has no ${globalRateLimitFilter} filter asking it`];
  if (service === undefined) return [`no service runs the ${ratelimitRepository} image, but envoy.yaml's ${globalRateLimitFilter} asks one`];
  const env = service.environment;
  const problems: string[] = [];
  const expect = (name: string, value: string, why: string) => {
    if (env[name] !== value) problems.push(`${service.name}: ${name} is ${env[name] ?? "unset"}, must be ${value} (${why})`);
  };
  expect("USE_STATSD", "false", "there is no statsd in the stack; its default true makes it send to one");
  expect("REDIS_SOCKET_TYPE", "tcp", "Redis is another container; the default is a unix socket");
  expect("RUNTIME_WATCH_ROOT", "false", "the config folder is a mount, not a symlink swapped under RUNTIME_ROOT");
  problems.push(...redisProblems(compose, service));
  problems.push(...configMountProblems(service, context.configPath));
  problems.push(...upstreamProblems(compose, service, bootstrap, child(filter, "typed_config")));
  problems.push(...configFileProblems(context, text(child(filter, "typed_config"), "domain")));
  problems.push(...tlsProblems(compose, service));
  return problems;
}

function redisProblems(compose: ComposeFile, service: ComposeService): string[] {
  const url = service.environment.REDIS_URL ?? "";
  const [host = "", port = String(defaultRedisPort)] = url.split(":");
  const redis = compose.services.get(host);
  if (redis === undefined) return [`${service.name}: REDIS_URL=${url} points at host "${host}", which is no compose service`];
  const problems: string[] = [];
  if (redis.image?.split(":")[0] !== "redis") problems.push(`${service.name}: REDIS_URL=${url} points at ${host}, which does not run the redis image`);
  const portFlag = redis.command.indexOf("--port");
  const listens = portFlag === -1 ? defaultRedisPort : Number(redis.command[portFlag + 1]);
  if (Number(port) !== listens) problems.push(`${service.name}: REDIS_URL=${url}: ${host} listens on ${listens}`);
  if (!(host in service.dependsOn)) problems.push(`${service.name}: does not depend_on ${host}, so it may start before Redis is ready`);
  return problems;
}

function configMountProblems(service: ComposeService, configPath: string): string[] {
  const env = service.environment;
  const dir = `${env.RUNTIME_ROOT ?? "/srv/runtime_data/current"}/${env.RUNTIME_SUBDIRECTORY ?? ""}/${env.RUNTIME_APPDIRECTORY ?? "config"}`.replace(/\/+/g, "/");
  const mounted = hostPathMountedAt(service, dir);
  const configDir = configPath.slice(0, configPath.lastIndexOf("/"));
  return mounted === configDir ? [] : [`${service.name}: must mount ./${configDir} at ${dir} (RUNTIME_ROOT/RUNTIME_SUBDIRECTORY/config), where it reads ${configPath}`];
}

function upstreamProblems(compose: ComposeFile, service: ComposeService, bootstrap: Json, filter: Json): string[] {
  const clusterName = text(child(child(child(filter, "rate_limit_service"), "grpc_service"), "envoy_grpc"), "cluster_name");
  const cluster = clusters(bootstrap).find((c) => c.name === clusterName);
  if (cluster === undefined) return [];
  const where = `envoy cluster ${cluster.name}`;
  const grpcPort = Number(service.environment.GRPC_PORT ?? defaultGrpcPort);
  const problems: string[] = [];
  if (cluster.name !== service.name) problems.push(`${where}: the rate limit service is compose service ${service.name}; name the cluster after it`);
  for (const endpoint of cluster.endpoints) {
    if (endpoint.host !== service.name) problems.push(`${where} -> ${endpoint.host}:${endpoint.port}: the rate limit service is compose service ${service.name}`);
    else if (endpoint.port !== grpcPort) problems.push(`${where} -> ${endpoint.host}:${endpoint.port}: ${service.name} serves gRPC on ${grpcPort} (GRPC_PORT)`);
  }
  const envoy = serviceByImage(compose, "envoyproxy/envoy");
  if (envoy !== undefined && !(service.name in envoy.dependsOn)) problems.push(`${envoy.name}: does not depend_on ${service.name}, so the first calls go unlimited`);
  return problems;
}

function configFileProblems(context: RatelimitContext, domain: string | undefined): string[] {
  const where = context.configPath;
  const config = child({ config: context.config }, "config");
  const problems: string[] = [];
  if (text(config, "domain") !== domain) problems.push(`${where}: domain is ${text(config, "domain") ?? "missing"}, but envoy.yaml's ${globalRateLimitFilter} asks about domain ${domain ?? "?"}`);
  // A descriptor with a value counts that one value only; without one, each distinct value (customer) gets its own counter.
  const customer = children(config, "descriptors").find((d) => text(d, "key") === customerDescriptorKey && !("value" in d));
  if (customer === undefined) return [...problems, `${where}: no descriptor with key ${customerDescriptorKey} and no value, so customers are not limited (the service allows any descriptor it has no limit for)`];
  const limit = child(customer, "rate_limit");
  const stated = context.statedLimit;
  if (text(limit, "unit")?.toLowerCase() !== stated.unit || Number(limit.requests_per_unit) !== stated.requestsPerUnit) {
    problems.push(`${where}: customer limit is ${String(limit.requests_per_unit)} per ${text(limit, "unit") ?? "?"}, but the README states ${stated.requestsPerUnit} per ${stated.unit}`);
  }
  if (limit.unlimited === true || customer.shadow_mode === true) problems.push(`${where}: the customer limit is unlimited or in shadow mode, so nothing is enforced`);
  return problems;
}

function tlsProblems(compose: ComposeFile, service: ComposeService): string[] {
  const identity = [...compose.services.values()].find((s) => s.command.includes(identityMaker));
  if (identity === undefined) return [];
  const dir = identity.command[identity.command.indexOf(identityMaker) + 1] ?? "";
  const env = service.environment;
  const problems: string[] = [];
  if (env.GRPC_SERVER_USE_TLS !== "true") problems.push(`${service.name}: GRPC_SERVER_USE_TLS is not true, but envoy.yaml reaches it over TLS`);
  const expected = { GRPC_SERVER_TLS_CERT: `${dir}/${service.name}.crt`, GRPC_SERVER_TLS_KEY: `${dir}/${service.name}.key` };
  for (const [name, path] of Object.entries(expected)) {
    if (env[name] !== path) problems.push(`${service.name}: ${name} is ${env[name] ?? "unset"}; it must be ${path}`);
  }
  if (!identity.command.includes(service.name)) problems.push(`${identity.name}: makes no certificate for ${service.name}`);
  if (hostPathMountedAt(service, dir) === undefined) problems.push(`${service.name}: does not mount ${dir}, where its TLS files are`);
  if (!(identity.name in service.dependsOn)) problems.push(`${service.name}: does not depend_on ${identity.name}, so it may start before its certificate exists`);
  return problems;
}
