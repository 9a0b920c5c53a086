import {
  child,
  children,
  type ClusterView,
  clusters,
  connectionManagers,
  type ConnectionManagerView,
  headerList,
  http2OptionsKey,
  type Json,
  text,
  typeUrl,
} from "./envoy-config-model.js";
import { edgeProblems } from "./envoy-edge-checks.js";
import { streamingRouteProblems } from "./envoy-stream-checks.js";
import type { ProtoService } from "./envoy-proto-services.js";
import { firstMatchingRoute, virtualHostFor } from "./envoy-route-match.js";

// What the schema cannot know: that this config actually serves ordermesh. Every message names the
// part of the config to fix.

/** The listener port the architecture promises to clients. */
export const gatewayPort = 8080;

// x-envoy-retry-on and x-envoy-retry-grpc-on conditions (Envoy router docs); retry_on takes both.
const retryOnTokens = new Set([
  "5xx",
  "gateway-error",
  "reset",
  "reset-before-request",
  "connect-failure",
  "envoy-ratelimited",
  "retriable-4xx",
  "refused-stream",
  "retriable-status-codes",
  "retriable-headers",
  "http3-post-connect-failure",
  "cancelled",
  "deadline-exceeded",
  "internal",
  "resource-exhausted",
  "unavailable",
]);

// Filter name -> typed_config type, in the order the chain must have them (bridges before CORS,
// router last).
const requiredFilters: readonly [string, string][] = [
  ["envoy.filters.http.grpc_web", "envoy.extensions.filters.http.grpc_web.v3.GrpcWeb"],
  ["envoy.filters.http.connect_grpc_bridge", "envoy.extensions.filters.http.connect_grpc_bridge.v3.FilterConfig"],
  ["envoy.filters.http.cors", "envoy.extensions.filters.http.cors.v3.Cors"],
  // After CORS (preflights carry no token), before the limits (unauthenticated calls spend no tokens,
  // and the per-customer limit needs the verified sub).
  ["envoy.filters.http.jwt_authn", "envoy.extensions.filters.http.jwt_authn.v3.JwtAuthentication"],
  // The per-connection guard first: it sheds a flood without a call to the rate limit service.
  ["envoy.filters.http.local_ratelimit", "envoy.extensions.filters.http.local_ratelimit.v3.LocalRateLimit"],
  ["envoy.filters.http.ratelimit", "envoy.extensions.filters.http.ratelimit.v3.RateLimit"],
  ["envoy.filters.http.router", "envoy.extensions.filters.http.router.v3.Router"],
];
const corsPolicyType = typeUrl("envoy.extensions.filters.http.cors.v3.CorsPolicy");
const corsExposed = ["grpc-status", "grpc-message", "grpc-status-details-bin"];
const corsAllowed = ["content-type", "connect-protocol-version", "connect-timeout-ms", "grpc-timeout", "x-grpc-web", "x-user-agent"];

// Served by every ordermesh process next to its own API.
const platformServices: ProtoService[] = [
  { name: "grpc.health.v1.Health", methods: ["Check", "Watch", "List"] },
  { name: "grpc.reflection.v1.ServerReflection", methods: ["ServerReflectionInfo"] },
  { name: "grpc.reflection.v1alpha.ServerReflection", methods: ["ServerReflectionInfo"] },
];

/** Cross-checks a schema-valid, normalized Bootstrap against the services declared in proto/. */
export function meshProblems(bootstrap: Json, services: readonly ProtoService[]): string[] {
  const upstreams = clusters(bootstrap);
  const managers = connectionManagers(bootstrap);
  const problems = [...adminProblems(bootstrap), ...upstreams.flatMap(clusterProblems)];
  const gateway = managers.find((manager) => manager.port === gatewayPort);
  if (gateway === undefined) return [...problems, `static_resources.listeners: no http_connection_manager listens on :${gatewayPort}`];
  const clusterNames = new Set(upstreams.map((cluster) => cluster.name));
  for (const manager of managers) {
    problems.push(...filterChainProblems(manager), ...routeProblems(manager, clusterNames), ...accessLogProblems(manager));
  }
  problems.push(...serviceRoutingProblems(gateway, services, clusterNames));
  problems.push(...edgeProblems(gateway, { api: services, platform: platformServices }, upstreams));
  problems.push(...streamingRouteProblems(gateway, services));
  return problems;
}

function adminProblems(bootstrap: Json): string[] {
  const host = text(child(child(child(bootstrap, "admin"), "address"), "socket_address"), "address");
  return host === "127.0.0.1" || host === "::1"
    ? []
    : [`admin.address: binds ${host ?? "nothing"}; the admin API can reconfigure Envoy and must stay on 127.0.0.1`];
}

function clusterProblems(cluster: ClusterView): string[] {
  const where = `clusters[${cluster.name}]`;
  const config = cluster.config;
  const problems: string[] = [];
  const http = child(child(config, "typed_extension_protocol_options"), http2OptionsKey);
  if (!("http2_protocol_options" in child(http, "explicit_http_config"))) {
    problems.push(`${where}: upstream is not explicitly HTTP/2 (typed_extension_protocol_options.${http2OptionsKey}.explicit_http_config.http2_protocol_options); grpc-js only speaks HTTP/2`);
  }
  if (!children(config, "health_checks").some((check) => "grpc_health_check" in check)) {
    problems.push(`${where}: no active health check with grpc_health_check (grpc.health.v1)`);
  }
  if (!("outlier_detection" in config)) problems.push(`${where}: no outlier_detection`);
  if (!("connect_timeout" in config)) problems.push(`${where}: no connect_timeout (Envoy's default is 5s)`);
  const thresholds = children(child(config, "circuit_breakers"), "thresholds");
  if (thresholds.length === 0) problems.push(`${where}: no circuit_breakers.thresholds`);
  if (!thresholds.some((threshold) => "retry_budget" in threshold)) problems.push(`${where}: no retry_budget in circuit_breakers.thresholds`);
  if (cluster.endpoints.length === 0) problems.push(`${where}: no endpoints in load_assignment`);
  return problems;
}

function filterChainProblems(manager: ConnectionManagerView): string[] {
  const where = `listener ${manager.listener} http_filters`;
  const filters = children(manager.config, "http_filters");
  const names = filters.map((filter) => text(filter, "name") ?? "");
  const problems: string[] = [];
  if (manager.config.codec_type !== "AUTO") {
    problems.push(`listener ${manager.listener}: codec_type must be AUTO (browsers use HTTP/1.1, gRPC clients HTTP/2)`);
  }
  const router = requiredFilters.at(-1)?.[0];
  if (names.at(-1) !== router) problems.push(`${where}: ${router} must be the last filter, found ${names.at(-1) ?? "none"} last`);
  let previous = -1;
  for (const [name, type] of requiredFilters) {
    const index = names.indexOf(name);
    if (index === -1) {
      problems.push(`${where}: ${name} is missing`);
      continue;
    }
    const actual = text(child(filters[index], "typed_config"), "@type");
    if (actual !== typeUrl(type)) problems.push(`${where}[${index}] ${name}: typed_config is ${actual ?? "missing"}, expected ${typeUrl(type)}`);
    if (index < previous) problems.push(`${where}: ${name} is out of order; the chain must be ${requiredFilters.map(([n]) => n).join(", ")}`);
    previous = Math.max(previous, index);
  }
  return problems;
}

function routeProblems(manager: ConnectionManagerView, clusterNames: Set<string>): string[] {
  const filterNames = new Set(children(manager.config, "http_filters").map((filter) => text(filter, "name")));
  const problems: string[] = [];
  for (const vhost of children(child(manager.config, "route_config"), "virtual_hosts")) {
    const vhostName = text(vhost, "name") ?? "?";
    problems.push(...perFilterConfigProblems(`virtual_hosts[${vhostName}]`, vhost, filterNames));
    children(vhost, "routes").forEach((route, index) => {
      const where = `virtual_hosts[${vhostName}].routes[${text(route, "name") ?? index}]`;
      problems.push(...perFilterConfigProblems(where, route, filterNames));
      const cors = child(child(route, "typed_per_filter_config"), "envoy.filters.http.cors");
      problems.push(...corsProblems(where, "@type" in cors ? cors : child(child(vhost, "typed_per_filter_config"), "envoy.filters.http.cors")));
      if (!("route" in route)) return;
      const action = child(route, "route");
      for (const name of routeClusters(action)) {
        if (!clusterNames.has(name)) problems.push(`${where}: routes to cluster "${name}", which is not defined`);
      }
      if (!("grpc_timeout_header_max" in child(action, "max_stream_duration"))) {
        problems.push(`${where}: no max_stream_duration.grpc_timeout_header_max, so client deadlines are not enforced`);
      }
      problems.push(...retryProblems(where, "retry_policy" in action ? child(action, "retry_policy") : child(vhost, "retry_policy")));
    });
  }
  return problems;
}

function routeClusters(action: Json): string[] {
  const direct = text(action, "cluster");
  if (direct !== undefined) return [direct];
  return children(child(action, "weighted_clusters"), "clusters").map((cluster) => text(cluster, "name") ?? "");
}

function perFilterConfigProblems(where: string, scope: Json, filterNames: Set<string | undefined>): string[] {
  return Object.keys(child(scope, "typed_per_filter_config"))
    .filter((name) => !filterNames.has(name))
    .map((name) => `${where}.typed_per_filter_config: "${name}" names no filter in http_filters, so Envoy ignores it`);
}

function corsProblems(where: string, policy: Json): string[] {
  if (policy["@type"] !== corsPolicyType) return [`${where}: no CORS policy (${corsPolicyType}) in typed_per_filter_config`];
  const exposed = headerList(text(policy, "expose_headers"));
  const allowed = headerList(text(policy, "allow_headers"));
  return [
    ...corsExposed.filter((h) => !exposed.includes(h)).map((h) => `${where}: CORS expose_headers lacks ${h}, so browsers cannot read call errors`),
    ...corsAllowed.filter((h) => !allowed.includes(h)).map((h) => `${where}: CORS allow_headers lacks ${h}, which Connect/gRPC-Web clients send`),
  ];
}

function retryProblems(where: string, policy: Json): string[] {
  const tokens = (text(policy, "retry_on") ?? "").split(",").map((token) => token.trim()).filter(Boolean);
  if (tokens.length === 0) return [`${where}: no retry_policy.retry_on`];
  const problems = tokens
    .filter((token) => !retryOnTokens.has(token))
    .map((token) => `${where}: retry_on "${token}" is not an Envoy retry condition (valid: ${[...retryOnTokens].join(", ")})`);
  for (const needed of ["unavailable", "reset"]) {
    if (!tokens.includes(needed)) problems.push(`${where}: retry_on lacks "${needed}"`);
  }
  return problems;
}

function accessLogProblems(manager: ConnectionManagerView): string[] {
  // Both the stdout and the file logger carry their format in log_format (a SubstitutionFormatString).
  const json = children(manager.config, "access_log").some((log) => "json_format" in child(child(log, "typed_config"), "log_format"));
  return json ? [] : [`listener ${manager.listener}: no access_log with log_format.json_format`];
}

function serviceRoutingProblems(gateway: ConnectionManagerView, services: readonly ProtoService[], clusterNames: Set<string>): string[] {
  const authority = `localhost:${gatewayPort}`;
  const vhost = virtualHostFor(children(child(gateway.config, "route_config"), "virtual_hosts"), authority);
  if (vhost === undefined) return [`listener ${gateway.listener}: no virtual host serves authority ${authority} (add domains: ["*"])`];
  const problems: string[] = [];
  const check = (service: ProtoService, expectedCluster: string | undefined) => {
    for (const method of service.methods) {
      const path = `/${service.name}/${method}`;
      let route: Json | undefined;
      try {
        route = firstMatchingRoute(children(vhost, "routes"), { authority, path, headers: { "content-type": "application/grpc" } });
      } catch (error) {
        problems.push(`${path}: ${(error as Error).message}`);
        continue;
      }
      const cluster = text(child(route, "route"), "cluster");
      if (route === undefined) problems.push(`${path}: no route matches it (clients would get UNIMPLEMENTED)`);
      else if (cluster === undefined) problems.push(`${path}: matched route ${text(route, "name") ?? "?"} does not forward to a single cluster`);
      else if (!clusterNames.has(cluster)) problems.push(`${path}: routed to cluster "${cluster}", which is not defined`);
      else if (expectedCluster !== undefined && cluster !== expectedCluster) {
        problems.push(`${path}: routed to cluster "${cluster}", but package ${service.name.split(".").slice(0, -1).join(".")} is served by "${expectedCluster}"`);
      }
    }
  };
  // Convention shared with docker-compose.yml: proto package orders.v1 is served by service/cluster "orders".
  for (const service of services) check(service, service.name.split(".")[0]);
  for (const service of platformServices) check(service, undefined);
  return problems;
}
