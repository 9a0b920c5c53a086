import { stringify } from "yaml";
import { isPlainObject } from "./envoy-json-scalars.js";
import { parseEnvoyYaml } from "./envoy-validator.js";

// The gateway's config on Kubernetes is envoy/envoy.yaml with its upstreams moved to the headless
// Services: one file to edit, this transformation to hold the copy in deploy/k8s in step (the test
// fails when the committed copy is stale, like gen/).

/** Where each Envoy cluster's endpoint goes on Kubernetes: a Service of the namespace and its port. */
export interface K8sUpstream {
  service: string;
  port: number;
  /** Replaces the cluster's health_checks (a port without grpc.health.v1 cannot answer grpc_health_check). */
  healthChecks?: unknown[];
}

/**
 * shipping's gRPC port carries the mutating RPCs and admits orders only (network-policies.yaml), so the
 * gateway reaches shipping on its web port, which serves ShippingService over gRPC too but no
 * grpc.health.v1: Envoy checks that port by TCP, and the kubelet's readiness probe (which the headless
 * Service's DNS answers follow) checks health.
 */
export const k8sUpstreams: Readonly<Record<string, K8sUpstream>> = {
  orders: { service: "orders", port: 50051 },
  shipping: {
    service: "shipping",
    port: 8082,
    healthChecks: [{ timeout: "1s", interval: "5s", no_traffic_interval: "5s", unhealthy_threshold: 2, healthy_threshold: 1, tcp_health_check: {} }],
  },
  notifier: { service: "notifier", port: 50053 },
  ratelimit: { service: "ratelimit", port: 8081 },
};

/** Routes of envoy.yaml that reach what the Kubernetes gateway cannot: shipping's health and reflection live on its gRPC port. */
export const k8sDroppedRoutes: readonly string[] = ["platform-shipping"];

const header = `# GENERATED from envoy/envoy.yaml by tests/support/k8s-envoy-config.ts; do not edit (edit envoy/envoy.yaml and
# run K8S_WRITE=1 npx vitest run tests/k8s-manifests.test.ts). The same gateway, with its clusters on the
# headless Services of the namespace (STRICT_DNS: one host per ready pod, re-resolved every 2 s), shipping
# reached on its web port, and no route to shipping's health and reflection.
`;

/** The Kubernetes gateway config (YAML text) made from envoy/envoy.yaml's text for the given namespace. */
export function k8sEnvoyConfig(envoyYaml: string, namespace: string): string {
  const config = structuredClone(parseEnvoyYaml(envoyYaml));
  if (!isPlainObject(config)) throw new Error("envoy.yaml is not a mapping");
  const resources = config.static_resources as { clusters: Record<string, unknown>[]; listeners: unknown[] };
  for (const cluster of resources.clusters) {
    const name = String(cluster.name);
    const upstream = k8sUpstreams[name];
    if (upstream === undefined) throw new Error(`envoy.yaml cluster ${name} has no Kubernetes Service in k8sUpstreams`);
    cluster.load_assignment = {
      cluster_name: name,
      endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: `${upstream.service}.${namespace}.svc.cluster.local`, port_value: upstream.port } } } }] }],
    };
    // New pods get traffic within seconds of being Ready, instead of after the DNS TTL.
    cluster.dns_refresh_rate = "2s";
    cluster.respect_dns_ttl = false;
    if (upstream.healthChecks) cluster.health_checks = upstream.healthChecks;
  }
  for (const vhost of virtualHosts(resources.listeners)) {
    vhost.routes = (vhost.routes as { name?: string }[]).filter((route) => !k8sDroppedRoutes.includes(route.name ?? ""));
  }
  return header + stringify(config, { lineWidth: 0, aliasDuplicateObjects: false });
}

function virtualHosts(listeners: unknown[]): Record<string, unknown>[] {
  return listeners.flatMap((listener) =>
    ((listener as { filter_chains: { filters: { typed_config: { route_config?: { virtual_hosts: Record<string, unknown>[] } } }[] }[] }).filter_chains ?? []).flatMap((chain) =>
      chain.filters.flatMap((filter) => filter.typed_config.route_config?.virtual_hosts ?? []),
    ),
  );
}
