import { child, children, type ClusterView, type ConnectionManagerView, type Json, text } from "./envoy-config-model.js";
import { customerLimitProblems, type RoutedPath } from "./envoy-customer-limit-checks.js";
import type { ProtoService } from "./envoy-proto-services.js";
import { firstMatchingRoute, virtualHostFor, type RoutedRequest } from "./envoy-route-match.js";

// The gateway as the edge of issue #10: who may call (jwt_authn), how often (local_ratelimit per
// connection, ratelimit per customer: envoy-customer-limit-checks.ts) and from which pages (cors). Each message names the call path or the part of the config to fix.

const jwtFilter = "envoy.filters.http.jwt_authn";
const rateLimitFilter = "envoy.filters.http.local_ratelimit";
const corsFilter = "envoy.filters.http.cors";

/** The services' audience (AUTH_AUDIENCE default), which tokens at the gateway must carry too. */
export const expectedAudience = "ordermesh";
/** The default CORS_ORIGINS of the services: the web page npm start serves. */
export const defaultWebOrigins = ["http://127.0.0.1:8090", "http://localhost:8090"];

/** Paths a client calls: every method of the API services (token and limit) and of the platform ones (neither). */
export interface EdgePaths {
  api: readonly ProtoService[];
  platform: readonly ProtoService[];
}

/** Problems of the gateway's JWT, rate-limit and CORS configuration. */
export function edgeProblems(gateway: ConnectionManagerView, paths: EdgePaths, clusters: readonly ClusterView[]): string[] {
  const where = `listener ${gateway.listener}`;
  const filters = children(gateway.config, "http_filters");
  const filterConfig = (name: string) => child(filters.find((f) => text(f, "name") === name), "typed_config");
  const authority = "localhost:8080";
  const vhost = virtualHostFor(children(child(gateway.config, "route_config"), "virtual_hosts"), authority);
  if (vhost === undefined) return [];
  const problems: string[] = [];
  const jwt = filterConfig(jwtFilter);
  const hasJwt = filters.some((f) => text(f, "name") === jwtFilter);
  if (hasJwt) problems.push(...providerProblems(where, jwt));
  const rateLimitDefault = filterConfig(rateLimitFilter);
  const hasRateLimit = filters.some((f) => text(f, "name") === rateLimitFilter);

  const requests = (service: ProtoService): [string, RoutedRequest[]][] =>
    service.methods.map((method) => {
      const path = `/${service.name}/${method}`;
      const base = { authority, path, headers: { "content-type": "application/grpc" } };
      // Health and reflection also reach shipping and the notifier by header; every variant counts.
      return [path, ["", "shipping", "notifier"].map((upstream) => (upstream ? { ...base, headers: { ...base.headers, "x-ordermesh-upstream": upstream } } : base))];
    });
  const limited = (request: RoutedRequest) => {
    const route = firstMatchingRoute(children(vhost, "routes"), request);
    const perRoute = child(child(route, "typed_per_filter_config"), rateLimitFilter);
    const perHost = child(child(vhost, "typed_per_filter_config"), rateLimitFilter);
    const config = "@type" in perRoute ? perRoute : "@type" in perHost ? perHost : rateLimitDefault;
    return hasRateLimit && "token_bucket" in config && enabled(child(config, "filter_enabled")) && enabled(child(config, "filter_enforced"));
  };
  const requiresToken = (request: RoutedRequest) => {
    const rule = firstMatchingRoute(children(jwt, "rules"), request);
    return hasJwt && rule !== undefined && Object.keys(child(rule, "requires")).length > 0;
  };

  for (const service of paths.api) {
    for (const [path, variants] of requests(service)) {
      const plain = variants[0]!;
      if (!requiresToken(plain)) problems.push(`${path}: jwt_authn requires no token, so anyone reaches the service unauthenticated`);
      if (!limited(plain)) problems.push(`${path}: not rate limited (no enabled local_ratelimit token bucket on its route)`);
    }
  }
  for (const service of paths.platform) {
    for (const [path, variants] of requests(service)) {
      if (variants.some(requiresToken)) problems.push(`${path}: jwt_authn requires a token, but probes and grpcurl list call it without one`);
      if (variants.some(limited)) problems.push(`${path}: rate limited, but health checks and reflection must never be throttled`);
    }
  }
  const routed = (services: readonly ProtoService[]): RoutedPath[] =>
    services.flatMap(requests).map(([path, variants]) => ({
      path,
      routes: variants.map((request) => ({ request, route: firstMatchingRoute(children(vhost, "routes"), request) })),
    }));
  problems.push(...customerLimitProblems(where, filters, vhost, clusters, routed(paths.api), routed(paths.platform)));
  problems.push(...corsOriginProblems(vhost));
  return problems;
}

function providerProblems(where: string, jwt: Json): string[] {
  const providers = Object.entries(child(jwt, "providers"));
  if (providers.length === 0) return [`${where} ${jwtFilter}: no providers`];
  return providers.flatMap(([name, provider]) => {
    const p = provider as Json;
    const problems: string[] = [];
    if (!text(p, "issuer")) problems.push(`${where} ${jwtFilter} provider ${name}: no issuer (must equal the services' AUTH_ISSUER)`);
    const audiences = Array.isArray(p.audiences) ? p.audiences : [];
    if (!audiences.includes(expectedAudience)) problems.push(`${where} ${jwtFilter} provider ${name}: audiences lack "${expectedAudience}" (AUTH_AUDIENCE)`);
    if (!("local_jwks" in p) && !("remote_jwks" in p)) problems.push(`${where} ${jwtFilter} provider ${name}: no local_jwks or remote_jwks`);
    return problems;
  });
}

function enabled(percent: Json): boolean {
  return Number(child(percent, "default_value").numerator ?? 0) > 0;
}

function corsOriginProblems(vhost: Json): string[] {
  const policies: [string, Json][] = [[`virtual_hosts[${text(vhost, "name") ?? "?"}]`, child(child(vhost, "typed_per_filter_config"), corsFilter)]];
  for (const route of children(vhost, "routes")) {
    const policy = child(child(route, "typed_per_filter_config"), corsFilter);
    if ("@type" in policy) policies.push([`routes[${text(route, "name") ?? "?"}]`, policy]);
  }
  return policies.flatMap(([where, policy]) => {
    const matchers = children(policy, "allow_origin_string_match");
    const exact = matchers.map((m) => text(m, "exact"));
    const problems = matchers
      .filter((m) => text(m, "exact") === undefined)
      .map((m) => `${where}: CORS allows origins by pattern (${Object.keys(m).join(", ")}); list exact origins, any pattern risks admitting any page`);
    for (const origin of exact) {
      if (origin === "*" || origin === "null") problems.push(`${where}: CORS allows origin "${origin}"; never any origin, never null`);
    }
    for (const origin of defaultWebOrigins) {
      if (!exact.includes(origin)) problems.push(`${where}: CORS allowlist lacks ${origin}, the web page's origin`);
    }
    return problems;
  });
}
