import { child, children, type ClusterView, type Json, text } from "./envoy-config-model.js";
import type { RoutedRequest } from "./envoy-route-match.js";

// The per-customer limit of issue #10: the global ratelimit filter asks the envoyproxy/ratelimit
// service about a descriptor customer=<JWT sub> that the API routes' rate_limits build. Envoy sends
// nothing for a route without rate_limits, so "health is never limited" means "health has none".

/** Name of Envoy's global rate limit HTTP filter. */
export const globalRateLimitFilter = "envoy.filters.http.ratelimit";
/** The descriptor key the rate limit service's config counts per distinct value. */
export const customerDescriptorKey = "customer";
const jwtFilter = "envoy.filters.http.jwt_authn";

/** One call path with its request variants and the route Envoy picks for each. */
export interface RoutedPath {
  path: string;
  routes: { request: RoutedRequest; route: Json | undefined }[];
}

/** Problems of the global filter's own settings and of each path's descriptors. */
export function customerLimitProblems(where: string, filters: Json[], vhost: Json, clusters: readonly ClusterView[], api: RoutedPath[], platform: RoutedPath[]): string[] {
  const filter = filters.find((f) => text(f, "name") === globalRateLimitFilter);
  if (filter === undefined) return [];
  const config = child(filter, "typed_config");
  const problems = filterProblems(`${where} ${globalRateLimitFilter}`, config, clusters);
  const stage = Number(config.stage ?? 0);
  const customerHeader = subClaimHeader(filters);
  if (customerHeader === undefined) problems.push(`${where} ${jwtFilter}: no claim_to_headers copies the sub claim, so no header names the customer`);
  for (const { path, routes } of api) {
    const actions = descriptorActions(vhost, routes[0]?.route, stage);
    const perCustomer = actions.some((entry) =>
      entry.some((action) => {
        const header = child(action, "request_headers");
        return text(header, "descriptor_key") === customerDescriptorKey && text(header, "header_name") === customerHeader && header.skip_if_absent !== true;
      }),
    );
    if (!perCustomer) {
      problems.push(`${path}: not rate limited per customer (its route's rate_limits lack request_headers { header_name: ${customerHeader ?? "<sub header>"}, descriptor_key: ${customerDescriptorKey} })`);
    }
  }
  for (const { path, routes } of platform) {
    if (routes.some(({ route }) => descriptorActions(vhost, route, stage).length > 0)) {
      problems.push(`${path}: has rate_limits descriptors, but health checks and reflection must never be throttled`);
    }
  }
  return problems;
}

function filterProblems(where: string, config: Json, clusters: readonly ClusterView[]): string[] {
  const problems: string[] = [];
  if (!text(config, "domain")) problems.push(`${where}: no domain (it must equal the rate limit service config's domain)`);
  if (config.failure_mode_deny === true) problems.push(`${where}: failure_mode_deny is true, so a rate limit service outage takes the whole API down`);
  if (config.rate_limited_as_resource_exhausted !== true) problems.push(`${where}: rate_limited_as_resource_exhausted is off, so a limited gRPC call reads UNAVAILABLE instead of RESOURCE_EXHAUSTED`);
  if (!("timeout" in config)) problems.push(`${where}: no timeout (Envoy's default is 20ms)`);
  const service = child(config, "rate_limit_service");
  if (service.transport_api_version !== "V3") problems.push(`${where}: rate_limit_service.transport_api_version must be V3 (the only protocol envoyproxy/ratelimit speaks)`);
  const cluster = text(child(child(service, "grpc_service"), "envoy_grpc"), "cluster_name");
  if (cluster === undefined) problems.push(`${where}: rate_limit_service has no grpc_service.envoy_grpc.cluster_name`);
  else if (!clusters.some((c) => c.name === cluster)) problems.push(`${where}: rate_limit_service names cluster "${cluster}", which is not defined`);
  return problems;
}

/** The header jwt_authn fills with the verified sub claim. */
function subClaimHeader(filters: Json[]): string | undefined {
  const jwt = child(filters.find((f) => text(f, "name") === jwtFilter), "typed_config");
  const claims = Object.values(child(jwt, "providers")).flatMap((provider) => children(provider, "claim_to_headers"));
  return text(claims.find((claim) => text(claim, "claim_name") === "sub"), "header_name");
}

/**
 * The action lists Envoy evaluates for a route at the filter's stage: the route's rate_limits and the
 * virtual host's, which apply when the route has none (or always, with vh_rate_limits: INCLUDE).
 */
function descriptorActions(vhost: Json, route: Json | undefined, stage: number): Json[][] {
  if (route === undefined) return [];
  const routeLimits = children(child(route, "route"), "rate_limits");
  const perRoute = child(child(route, "typed_per_filter_config"), globalRateLimitFilter);
  const vhOption = text(perRoute, "vh_rate_limits") ?? "OVERRIDE";
  const vhLimits = children(vhost, "rate_limits");
  const applied = vhOption === "INCLUDE" ? [...routeLimits, ...vhLimits] : vhOption === "IGNORE" || routeLimits.length > 0 ? routeLimits : vhLimits;
  return applied.filter((limit) => Number(limit.stage ?? 0) === stage).map((limit) => children(limit, "actions")).filter((actions) => actions.length > 0);
}
