import type { Manifest } from "./k8s-kustomize.js";
import type { LoadedK8sApp } from "./k8s-app-checks.js";
import type { GatewayUpstream } from "./k8s-envoy-checks.js";
import { workloads, type Workload } from "./k8s-model.js";
import { workloadPeer, type Edge, type Peer } from "./k8s-network-checks.js";

// Who must not reach a service's ports: a gRPC port admits the services that call it and the gateway
// when one of its clusters goes there (so shipping's, with the mutating RPCs, admits orders only); a web
// port admits the gateway only; a metrics port Prometheus only; nothing outside the namespace but
// Prometheus reaches any of them.

/** Prometheus as the policies must admit it: label app.kubernetes.io/name=prometheus in namespace monitoring. */
export const prometheusPeer: Peer = {
  description: "Prometheus (namespace monitoring)",
  namespace: "monitoring",
  namespaceLabels: { "kubernetes.io/metadata.name": "monitoring" },
  labels: { "app.kubernetes.io/name": "prometheus" },
};

const outsider: Peer = { description: "a pod of another namespace", namespace: "elsewhere", namespaceLabels: { "kubernetes.io/metadata.name": "elsewhere" }, labels: {} };

/** The connections that must be allowed (Prometheus to metrics) and those that must not. */
export function exposureEdges(manifests: readonly Manifest[], apps: readonly LoadedK8sApp[], gateway: Workload | undefined, upstreams: readonly GatewayUpstream[]): { required: Edge[]; forbidden: Edge[] } {
  const required: Edge[] = [];
  const forbidden: Edge[] = [];
  const all = workloads(manifests);
  for (const target of apps) {
    const callers = new Set(apps.filter((app) => app.view.grpcDependencies.some((dependency) => dependency.app === target.app)).map((app) => app.workload.name));
    const gatewayPorts = new Set(upstreams.filter((upstream) => upstream.workload === target.workload.name).map((upstream) => upstream.port));
    const ports: { port: number; admits: Set<string>; what: string }[] = [
      { port: target.view.grpcPort, admits: new Set([...callers, ...(gatewayPorts.has(target.view.grpcPort) && gateway ? [gateway.name] : [])]), what: "gRPC port" },
    ];
    if (target.view.webPort !== undefined) ports.push({ port: target.view.webPort, admits: new Set(gateway ? [gateway.name] : []), what: "web port" });
    if (target.view.metricsPort !== undefined) {
      ports.push({ port: target.view.metricsPort, admits: new Set(), what: "metrics port" });
      required.push({ from: prometheusPeer, to: target.workload.name, port: target.view.metricsPort, why: `${target.app}'s metrics` });
    }
    for (const { port, admits, what } of ports) {
      for (const source of all) {
        if (source !== target.workload && !admits.has(source.name)) {
          forbidden.push({ from: workloadPeer(source), to: target.workload.name, port, why: `${target.app}'s ${what} ${port} (only ${[...admits].join(", ") || "no pod of the mesh"})` });
        }
      }
      forbidden.push({ from: outsider, to: target.workload.name, port, why: `${target.app}'s ${what} ${port}` });
    }
  }
  return { required, forbidden };
}
