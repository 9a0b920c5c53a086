import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { isPlainObject } from "./support/envoy-json-scalars.js";
import { operatorProtoServices, protoServices } from "./support/envoy-proto-services.js";
import { firstMatchingRoute, virtualHostFor } from "./support/envoy-route-match.js";
import { parseEnvoyYaml, validateEnvoyConfig } from "./support/envoy-validator.js";

// No Envoy binary runs here, so envoy/envoy.yaml is checked against Envoy's own v3 API protos
// (from @grpc/grpc-js-xds) and against the services in proto/. Every check is also shown to fail
// on a broken copy, so a green run means something.

const repoPath = (path: string) => fileURLToPath(new URL(`../${path}`, import.meta.url));
const envoyYaml = readFileSync(repoPath("envoy/envoy.yaml"), "utf8");
const services = protoServices(repoPath("proto"));
const operatorServices = operatorProtoServices(repoPath("proto"));

/** Problems of envoy.yaml with one piece of text replaced (which must exist). */
function problemsWithText(from: string, to: string): string[] {
  expect(envoyYaml).toContain(from);
  return validateEnvoyConfig(parseEnvoyYaml(envoyYaml.replace(from, to)), services).problems;
}

/** Problems of envoy.yaml after editing a deep copy of it (aliases unshared, so an edit hits one place). */
function problemsWithEdit(edit: (config: Record<string, unknown>) => void): string[] {
  const config: unknown = JSON.parse(JSON.stringify(parseEnvoyYaml(envoyYaml)));
  if (!isPlainObject(config)) throw new Error("envoy.yaml is not a mapping");
  edit(config);
  return validateEnvoyConfig(config, services).problems;
}

/** The object at a path of keys and list indexes; throws when the path does not exist. */
function at(value: unknown, ...path: (string | number)[]): Record<string, unknown> {
  const found = path.reduce<unknown>((node, key) => (node as Record<string | number, unknown> | undefined)?.[key], value);
  if (!isPlainObject(found)) throw new Error(`nothing at ${path.join(".")}`);
  return found;
}

/** The http connection manager of the gateway listener. */
const hcm = (config: unknown) => at(config, "static_resources", "listeners", 0, "filter_chains", 0, "filters", 0, "typed_config");
/** The routes of the gateway's virtual host. */
const routes = (config: unknown) => at(hcm(config), "route_config", "virtual_hosts", 0).routes as Record<string, unknown>[];
const clusters = (config: unknown) => at(config, "static_resources").clusters as Record<string, unknown>[];

describe("envoy/envoy.yaml", () => {
  it("is a valid Envoy v3 bootstrap that routes every proto service", () => {
    expect(services.map((service) => service.name)).toEqual(["orders.v1.OrderService", "shipping.v1.ShippingService"]);
    expect(validateEnvoyConfig(parseEnvoyYaml(envoyYaml), services).problems).toEqual([]);
  });
});

/** The operator-only methods a route of the gateway's virtual host would forward ("path -> route"). */
function exposedOperatorMethods(config: unknown): string[] {
  const virtualHosts = at(hcm(config), "route_config").virtual_hosts as Record<string, unknown>[];
  const vhost = virtualHostFor(virtualHosts as never, "localhost:8080");
  if (!vhost) throw new Error("no virtual host serves the gateway's authority");
  return operatorServices.flatMap((service) =>
    service.methods.flatMap((method) => {
      const path = `/${service.name}/${method}`;
      const route = firstMatchingRoute(vhost.routes as never, { authority: "localhost:8080", path, headers: { "content-type": "application/grpc" } });
      return route ? [`${path} -> ${String(route.name ?? "unnamed route")}`] : [];
    }),
  );
}

describe("the public gateway and the operator's AdminService", () => {
  it("routes none of admin.v1: operators reach it on the services' own ports", () => {
    expect(operatorServices.map((service) => service.name)).toEqual(["admin.v1.AdminService"]);
    expect(exposedOperatorMethods(parseEnvoyYaml(envoyYaml))).toEqual([]);
  });

  it("the check catches a catch-all route that would expose it", () => {
    const config: unknown = JSON.parse(JSON.stringify(parseEnvoyYaml(envoyYaml)));
    routes(config).push({ name: "everything", match: { prefix: "/" }, route: { cluster: "orders" } });
    expect(exposedOperatorMethods(config)).toContain("/admin.v1.AdminService/RedriveDeadLetters -> everything");
  });
});

describe("schema check against Envoy's protos rejects a broken copy", () => {
  it("with a misspelled field, naming the path and the likely field", () => {
    expect(problemsWithText("connect_timeout: 1s", "conect_timeout: 1s")).toContain(
      'static_resources.clusters[0].conect_timeout: unknown field "conect_timeout" in envoy.config.cluster.v3.Cluster (did you mean "connect_timeout"?)',
    );
  });

  it("with a misspelled field inside a typed_per_filter_config Any", () => {
    expect(problemsWithText("expose_headers: >-", "expose_header: >-")).toContainEqual(
      expect.stringMatching(
        /virtual_hosts\[0\]\.typed_per_filter_config\["envoy\.filters\.http\.cors"\]\.expose_header: unknown field "expose_header" in envoy\.extensions\.filters\.http\.cors\.v3\.CorsPolicy/,
      ),
    );
  });

  it("with a bad enum value, listing the valid ones", () => {
    expect(problemsWithText("codec_type: AUTO", "codec_type: AUTOMATIC")).toContainEqual(
      expect.stringMatching(/typed_config\.codec_type: string "AUTOMATIC" is not a value of enum .*CodecType \(one of: AUTO, HTTP1, HTTP2, HTTP3\)/),
    );
  });

  it("with wrong types: a number for a duration, a word for a port", () => {
    expect(problemsWithText("connect_timeout: 1s", "connect_timeout: 1")).toContain(
      'static_resources.clusters[0].connect_timeout: expected a duration string like "1.5s", got number 1',
    );
    expect(problemsWithText("port_value: 9901", "port_value: nine")).toContain(
      'admin.address.socket_address.port_value: expected an integer (uint32), got string "nine"',
    );
  });

  it("with an unknown @type", () => {
    expect(problemsWithText("grpc_web.v3.GrpcWeb", "grpc_web.v3.GrpcWebFilter")).toContainEqual(
      expect.stringMatching(/http_filters\[0\]\.typed_config\.@type: unknown type type\.googleapis\.com\/envoy\.extensions\.filters\.http\.grpc_web\.v3\.GrpcWebFilter/),
    );
  });

  it("with a value outside Envoy's validation rules", () => {
    expect(problemsWithText("max_ejection_percent: 50", "max_ejection_percent: 150")).toContain(
      "static_resources.clusters[0].outlier_detection.max_ejection_percent: 150 must be <= 100",
    );
  });

  it("with a required field missing", () => {
    const problems = problemsWithEdit((config) => {
      delete at(routes(config)[3], "route").cluster;
    });
    expect(problems).toContainEqual(expect.stringMatching(/routes\[3\]\.route: one of cluster, cluster_header, .* is required/));
  });

  it("with a deprecated field", () => {
    const problems = problemsWithEdit((config) => {
      clusters(config)[0]!.http2_protocol_options = {};
    });
    expect(problems).toContainEqual(expect.stringMatching(/^static_resources\.clusters\[0\]\.http2_protocol_options: is deprecated/));
  });

  it("with a YAML merge key, which Envoy's YAML loader does not support", () => {
    const problems = problemsWithText("      circuit_breakers: *limits\n", "      circuit_breakers:\n        <<: *limits\n");
    expect(problems).toContainEqual(expect.stringMatching(/circuit_breakers\.<<: unknown field "<<"/));
  });
});

describe("mesh check rejects a broken copy", () => {
  it("when a proto service has no route", () => {
    const problems = problemsWithEdit((config) => {
      routes(config).splice(routes(config).findIndex((route) => route.name === "shipping-api"), 1);
    });
    expect(problems).toContain("/shipping.v1.ShippingService/CreateShipment: no route matches it (clients would get UNIMPLEMENTED)");
  });

  it("when an earlier catch-all route shadows a service's route", () => {
    const problems = problemsWithEdit((config) => {
      routes(config).unshift({ match: { prefix: "/" }, route: { ...at(routes(config)[4], "route"), cluster: "shipping" } });
    });
    expect(problems).toContain('/orders.v1.OrderService/GetOrder: routed to cluster "shipping", but package orders.v1 is served by "orders"');
  });

  it("when a route names a cluster that does not exist", () => {
    expect(problemsWithText("cluster: shipping\n", "cluster: shiping\n")).toContain(
      'virtual_hosts[ordermesh].routes[platform-shipping]: routes to cluster "shiping", which is not defined',
    );
  });

  it("when the router is not the last filter", () => {
    const problems = problemsWithEdit((config) => {
      const filters = hcm(config).http_filters as unknown[];
      filters.push(...filters.splice(2, 1));
    });
    expect(problems).toContain(
      "listener ingress http_filters: envoy.filters.http.router must be the last filter, found envoy.filters.http.cors last",
    );
  });

  it("when the Connect bridge filter is missing", () => {
    const problems = problemsWithEdit((config) => {
      (hcm(config).http_filters as unknown[]).splice(1, 1);
    });
    expect(problems).toContain("listener ingress http_filters: envoy.filters.http.connect_grpc_bridge is missing");
  });

  it("when a cluster is not HTTP/2 or not health-checked", () => {
    const problems = problemsWithEdit((config) => {
      delete clusters(config)[1]!.typed_extension_protocol_options;
      delete clusters(config)[2]!.health_checks;
    });
    expect(problems).toContainEqual(expect.stringMatching(/^clusters\[shipping\]: upstream is not explicitly HTTP\/2/));
    expect(problems).toContain("clusters[notifier]: no active health check with grpc_health_check (grpc.health.v1)");
  });

  it("when a cluster has no retry budget", () => {
    const problems = problemsWithEdit((config) => {
      delete at(clusters(config)[0], "circuit_breakers", "thresholds", 0).retry_budget;
    });
    expect(problems).toContain("clusters[orders]: no retry_budget in circuit_breakers.thresholds");
  });

  it("when retry_on holds a token Envoy does not know", () => {
    expect(problemsWithText("retry_on: unavailable,reset,connect-failure", "retry_on: unavailable,reset,connection-failure")).toContainEqual(
      expect.stringMatching(/routes\[platform-shipping\]: retry_on "connection-failure" is not an Envoy retry condition/),
    );
  });

  it("when CORS hides grpc-status from browsers", () => {
    expect(problemsWithText("grpc-status, grpc-message", "grpc-message")).toContain(
      "virtual_hosts[ordermesh].routes[orders-api]: CORS expose_headers lacks grpc-status, so browsers cannot read call errors",
    );
  });

  it("when client deadlines are not enforced", () => {
    const problems = problemsWithEdit((config) => {
      delete at(routes(config).find((route) => route.name === "orders-api"), "route", "max_stream_duration").grpc_timeout_header_max;
    });
    expect(problems).toContain(
      "virtual_hosts[ordermesh].routes[orders-api]: no max_stream_duration.grpc_timeout_header_max, so client deadlines are not enforced",
    );
  });

  it("when the admin API listens beyond loopback", () => {
    expect(problemsWithText("address: 127.0.0.1, port_value: 9901", "address: 0.0.0.0, port_value: 9901")).toContain(
      "admin.address: binds 0.0.0.0; the admin API can reconfigure Envoy and must stay on 127.0.0.1",
    );
  });
});

describe("streaming check (WatchOrder) rejects a broken copy", () => {
  const watchRoute = (config: unknown) => routes(config).find((route) => route.name === "orders-watch")!;
  const where = "/orders.v1.OrderService/WatchOrder (server streaming, route orders-watch)";

  it("passes the real file: WatchOrder has its own route that no timeout cuts, with a bounded idle timeout", () => {
    expect(services.find((s) => s.name === "orders.v1.OrderService")?.serverStreaming).toEqual(["WatchOrder"]);
    expect(validateEnvoyConfig(parseEnvoyYaml(envoyYaml), services).problems).toEqual([]);
    expect(at(watchRoute(parseEnvoyYaml(envoyYaml)), "match").path).toBe("/orders.v1.OrderService/WatchOrder");
  });

  it("when WatchOrder falls through to the API route and its 30s stream deadline", () => {
    const problems = problemsWithEdit((config) => {
      routes(config).splice(routes(config).indexOf(watchRoute(config)), 1);
    });
    expect(problems).toContain("/orders.v1.OrderService/WatchOrder (server streaming, route orders-api): max_stream_duration 30s cuts the stream; leave it unset");
    expect(problems).toContain("/orders.v1.OrderService/WatchOrder (server streaming, route orders-api): grpc_timeout_header_max 30s caps the caller's deadline; 0s honours it as sent");
    expect(problems).toContainEqual(expect.stringMatching(/route orders-api\): no idle_timeout, so the connection manager's stream_idle_timeout/));
  });

  it("when the watch route has a route timeout, or none at all (Envoy's default is 15s)", () => {
    expect(
      problemsWithEdit((config) => {
        at(watchRoute(config), "route").timeout = "15s";
      }),
    ).toContain(`${where}: route timeout is 15s; it must be 0s, or it cuts the stream`);
    expect(
      problemsWithEdit((config) => {
        delete at(watchRoute(config), "route").timeout;
      }),
    ).toContain(`${where}: route timeout is unset (Envoy's default 15s); it must be 0s, or it cuts the stream`);
  });

  it("when the watch route's idle timeout is missing or never ends a vanished client's stream", () => {
    expect(
      problemsWithEdit((config) => {
        delete at(watchRoute(config), "route").idle_timeout;
      }),
    ).toContainEqual(expect.stringMatching(/route orders-watch\): no idle_timeout/));
    expect(
      problemsWithEdit((config) => {
        at(watchRoute(config), "route").idle_timeout = "0s";
      }),
    ).toContain(`${where}: idle_timeout 0s never ends a stream whose client vanished; bound it (e.g. 3600s)`);
  });

  it("when the watch route is not limited or needs no token like the rest of the API", () => {
    const problems = problemsWithEdit((config) => {
      delete watchRoute(config).typed_per_filter_config;
      delete at(watchRoute(config), "route").rate_limits;
    });
    expect(problems).toContain("/orders.v1.OrderService/WatchOrder: not rate limited (no enabled local_ratelimit token bucket on its route)");
    expect(problems).toContainEqual(expect.stringMatching(/^\/orders\.v1\.OrderService\/WatchOrder: not rate limited per customer/));
  });
});

describe("edge check (issue #10) rejects a broken copy", () => {
  const filters = (config: unknown) => hcm(config).http_filters as Record<string, unknown>[];
  const filterConfig = (config: unknown, name: string) => at(filters(config).find((f) => f.name === name), "typed_config");
  const route = (config: unknown, name: string) => routes(config).find((r) => r.name === name)!;

  it("passes the real file: API calls need a token and are limited, health and reflection neither", () => {
    const problems = validateEnvoyConfig(parseEnvoyYaml(envoyYaml), services).problems;
    expect(problems).toEqual([]);
    expect(envoyYaml).toContain("envoy.filters.http.jwt_authn");
  });

  it("when jwt_authn is missing", () => {
    const problems = problemsWithEdit((config) => {
      filters(config).splice(filters(config).findIndex((f) => f.name === "envoy.filters.http.jwt_authn"), 1);
    });
    expect(problems).toContain("listener ingress http_filters: envoy.filters.http.jwt_authn is missing");
    expect(problems).toContain("/orders.v1.OrderService/CreateOrder: jwt_authn requires no token, so anyone reaches the service unauthenticated");
    expect(problems).toContain("/shipping.v1.ShippingService/CreateShipment: jwt_authn requires no token, so anyone reaches the service unauthenticated");
  });

  it("when a service's rule requires no token, or health requires one", () => {
    const problems = problemsWithEdit((config) => {
      const rules = filterConfig(config, "envoy.filters.http.jwt_authn").rules as Record<string, unknown>[];
      delete rules[1]!.requires;
      // A catch-all first rule that requires a token shadows the open health/reflection rule.
      rules.unshift({ match: { prefix: "/" }, requires: { provider_name: "ordermesh" } });
    });
    expect(problems).toContain("/grpc.health.v1.Health/Check: jwt_authn requires a token, but probes and grpcurl list call it without one");
    const relaxed = problemsWithEdit((config) => {
      delete (filterConfig(config, "envoy.filters.http.jwt_authn").rules as Record<string, unknown>[])[1]!.requires;
    });
    expect(relaxed).toContain("/orders.v1.OrderService/GetOrder: jwt_authn requires no token, so anyone reaches the service unauthenticated");
  });

  it("when a jwt_authn or local_ratelimit field is misspelled (their protos are part of the schema check)", () => {
    expect(problemsWithText("claim_to_headers:", "claims_to_headers:")).toContainEqual(expect.stringMatching(/unknown field "claims_to_headers" in envoy\.extensions\.filters\.http\.jwt_authn\.v3\.JwtProvider/));
    expect(problemsWithText("local_rate_limit_per_downstream_connection:", "local_rate_limit_per_connection:")).toContainEqual(
      expect.stringMatching(/unknown field "local_rate_limit_per_connection" in envoy\.extensions\.filters\.http\.local_ratelimit\.v3\.LocalRateLimit/),
    );
  });

  it("when the provider's audience is not the services' one", () => {
    expect(problemsWithText("audiences: [ordermesh]", "audiences: [other]")).toContainEqual(
      expect.stringMatching(/provider ordermesh: audiences lack "ordermesh"/),
    );
  });

  it("when the rate limit covers health checks (per route or for the whole filter)", () => {
    const perRoute = problemsWithEdit((config) => {
      route(config, "platform-default").typed_per_filter_config = route(config, "orders-api").typed_per_filter_config;
    });
    expect(perRoute).toContain("/grpc.health.v1.Health/Check: rate limited, but health checks and reflection must never be throttled");
    const filterWide = problemsWithEdit((config) => {
      const limit = filterConfig(config, "envoy.filters.http.local_ratelimit");
      Object.assign(limit, at(route(config, "orders-api"), "typed_per_filter_config", "envoy.filters.http.local_ratelimit"));
    });
    expect(filterWide).toContain("/grpc.health.v1.Health/Check: rate limited, but health checks and reflection must never be throttled");
    expect(filterWide).toContain("/grpc.reflection.v1.ServerReflection/ServerReflectionInfo: rate limited, but health checks and reflection must never be throttled");
  });

  it("when an API route is not rate limited, or its limit is switched off", () => {
    const unlimited = problemsWithEdit((config) => {
      delete route(config, "shipping-api").typed_per_filter_config;
    });
    expect(unlimited).toContain("/shipping.v1.ShippingService/CreateShipment: not rate limited (no enabled local_ratelimit token bucket on its route)");
    expect(problemsWithText("numerator: 100, denominator: HUNDRED }\n                              filter_enforced", "numerator: 0, denominator: HUNDRED }\n                              filter_enforced")).toContain(
      "/orders.v1.OrderService/CreateOrder: not rate limited (no enabled local_ratelimit token bucket on its route)",
    );
  });

  it("when an API route lacks the customer descriptor action", () => {
    const problems = problemsWithEdit((config) => {
      delete at(route(config, "shipping-api"), "route").rate_limits;
    });
    expect(problems).toContain(
      "/shipping.v1.ShippingService/CreateShipment: not rate limited per customer (its route's rate_limits lack request_headers { header_name: x-ordermesh-customer, descriptor_key: customer })",
    );
    expect(problems.filter((p) => p.startsWith("/orders.v1."))).toEqual([]);
    const otherKey = problemsWithText("descriptor_key: customer", "descriptor_key: client");
    expect(otherKey).toContainEqual(expect.stringMatching(/^\/orders\.v1\.OrderService\/CreateOrder: not rate limited per customer/));
  });

  it("when health or reflection carries a descriptor (per route or from the virtual host)", () => {
    const perRoute = problemsWithEdit((config) => {
      at(route(config, "platform-default"), "route").rate_limits = at(route(config, "orders-api"), "route").rate_limits;
    });
    expect(perRoute).toContain("/grpc.health.v1.Health/Check: has rate_limits descriptors, but health checks and reflection must never be throttled");
    const onHost = problemsWithEdit((config) => {
      at(hcm(config), "route_config", "virtual_hosts", 0).rate_limits = at(route(config, "orders-api"), "route").rate_limits;
    });
    // No platform route has rate_limits of its own, so each takes the virtual host's.
    expect(onHost).toContain("/grpc.reflection.v1.ServerReflection/ServerReflectionInfo: has rate_limits descriptors, but health checks and reflection must never be throttled");
  });

  it("when the rate limit service cluster is missing or the filter is misconfigured", () => {
    const missing = problemsWithText("envoy_grpc: { cluster_name: ratelimit }", "envoy_grpc: { cluster_name: rate-limit }");
    expect(missing).toContain('listener ingress envoy.filters.http.ratelimit: rate_limit_service names cluster "rate-limit", which is not defined');
    const failClosed = problemsWithText("failure_mode_deny: false", "failure_mode_deny: true");
    expect(failClosed).toContain("listener ingress envoy.filters.http.ratelimit: failure_mode_deny is true, so a rate limit service outage takes the whole API down");
    const unavailable = problemsWithEdit((config) => {
      delete filterConfig(config, "envoy.filters.http.ratelimit").rate_limited_as_resource_exhausted;
    });
    expect(unavailable).toContainEqual(expect.stringMatching(/rate_limited_as_resource_exhausted is off/));
    expect(problemsWithText("transport_api_version: V3", "transport_api_version: V2")).toContainEqual(expect.stringMatching(/transport_api_version must be V3/));
  });

  it("when the global filter is missing, or one of its fields is misspelled (its proto is part of the schema check)", () => {
    const missing = problemsWithEdit((config) => {
      filters(config).splice(filters(config).findIndex((f) => f.name === "envoy.filters.http.ratelimit"), 1);
    });
    expect(missing).toContain("listener ingress http_filters: envoy.filters.http.ratelimit is missing");
    expect(problemsWithText("failure_mode_deny: false", "failure_mode_denied: false")).toContainEqual(
      expect.stringMatching(/unknown field "failure_mode_denied" in envoy\.extensions\.filters\.http\.ratelimit\.v3\.RateLimit/),
    );
    expect(problemsWithText("descriptor_key: customer", "descriptor: customer")).toContainEqual(
      expect.stringMatching(/unknown field "descriptor" in envoy\.config\.route\.v3\.RateLimit\.Action\.RequestHeaders/),
    );
  });

  it("when no claim header carries the sub the descriptor is built from", () => {
    expect(problemsWithText("claim_name: sub", "claim_name: email")).toContain(
      "listener ingress envoy.filters.http.jwt_authn: no claim_to_headers copies the sub claim, so no header names the customer",
    );
  });

  it("when CORS allows any origin: a pattern, \"*\" or \"null\"", () => {
    const anyPattern = problemsWithText("- exact: http://localhost:8090", '- safe_regex: { regex: ".*" }');
    expect(anyPattern).toContainEqual(expect.stringMatching(/CORS allows origins by pattern \(safe_regex\)/));
    expect(problemsWithText("- exact: http://localhost:8090", '- exact: "*"')).toContainEqual(expect.stringMatching(/CORS allows origin "\*"; never any origin/));
    expect(problemsWithText("- exact: http://localhost:8090", '- exact: "null"')).toContainEqual(expect.stringMatching(/CORS allows origin "null"/));
  });
});
