import { clusters, type ClusterView } from "./envoy-config-model.js";
import type { Json } from "./envoy-config-model.js";
import type { Manifest } from "./k8s-kustomize.js";
import { containerPort, dataOf, find, mountedFile, record, selects, workloads, type Workload } from "./k8s-model.js";
import { workloadPeer, type Edge } from "./k8s-network-checks.js";

// The gateway on Kubernetes: the Deployment runs Envoy with the generated config, every cluster of that
// config reaches a headless Service of the namespace on a port its pods serve, and every file the config
// names is mounted.

/** Where the gateway's upstream connections go: the workload and its container port, per Envoy cluster. */
export interface GatewayUpstream {
  cluster: string;
  workload: string;
  port: number;
}

/** Problems of the gateway, the connections it needs and where each cluster lands. */
export function gatewayProblems(manifests: readonly Manifest[], bootstrap: Json, configText: string): { problems: string[]; required: Edge[]; upstreams: GatewayUpstream[]; gateway: Workload | undefined } {
  const problems: string[] = [];
  const required: Edge[] = [];
  const upstreams: GatewayUpstream[] = [];
  const gateway = workloads(manifests).find((workload) => workload.containers.some((c) => c.image.startsWith("envoyproxy/envoy:")));
  if (gateway === undefined) return { problems: ["no Deployment runs envoyproxy/envoy"], required, upstreams, gateway };
  const envoy = gateway.containers.find((c) => c.image.startsWith("envoyproxy/envoy:"));
  const configPath = envoy?.command[(envoy?.command.indexOf("--config-path") ?? -2) + 1];
  const mounted = envoy && configPath ? mountedFile(gateway, envoy, configPath) : undefined;
  const configMap = mounted?.source === "configMap" ? find(manifests, "ConfigMap", mounted.name) : undefined;
  if (configPath === undefined) problems.push(`${gateway.name}: envoy runs without --config-path`);
  else if (configMap === undefined) problems.push(`${gateway.name}: --config-path ${configPath} is no file of a mounted ConfigMap`);
  else if (dataOf(configMap)[mounted?.key ?? ""] !== configText) problems.push(`${gateway.name}: ${configPath} (ConfigMap ${configMap.metadata.name}) is not the generated gateway config`);
  for (const path of configFiles(bootstrap)) {
    if (envoy && mountedFile(gateway, envoy, path) === undefined) problems.push(`${gateway.name}: envoy.yaml reads ${path}, which no volume mount provides`);
  }
  const namespace = gateway.manifest.metadata.namespace ?? "default";
  for (const cluster of clusters(bootstrap)) {
    for (const endpoint of cluster.endpoints) {
      const found = clusterTarget(manifests, cluster, endpoint, namespace);
      if (typeof found === "string") {
        problems.push(found);
        continue;
      }
      upstreams.push({ cluster: cluster.name, workload: found.workload.name, port: found.port });
      required.push({ from: workloadPeer(gateway), to: found.workload.name, port: found.port, why: `envoy cluster ${cluster.name}` });
    }
  }
  return { problems, required, upstreams, gateway };
}

function clusterTarget(manifests: readonly Manifest[], cluster: ClusterView, endpoint: { host: string; port: number }, namespace: string): { workload: Workload; port: number } | string {
  const where = `envoy cluster ${cluster.name} -> ${endpoint.host}:${endpoint.port}`;
  const suffix = `.${namespace}.svc.cluster.local`;
  if (!endpoint.host.endsWith(suffix)) return `${where}: not a Service of namespace ${namespace} (<service>${suffix})`;
  const name = endpoint.host.slice(0, -suffix.length);
  const service = find(manifests, "Service", name);
  if (service === undefined) return `${where}: no Service ${name}`;
  const spec = record(service.spec);
  if (cluster.config.type !== "STRICT_DNS") return `${where}: cluster type ${String(cluster.config.type)}; STRICT_DNS makes one host per pod of the headless Service`;
  if (spec.clusterIP !== "None") return `${where}: Service ${name} is not headless, so Envoy sees one virtual IP instead of the pods`;
  const port = (spec.ports as { port: number; targetPort?: number | string }[] | undefined)?.find((p) => p.port === endpoint.port);
  if (port === undefined) return `${where}: Service ${name} has no port ${endpoint.port}`;
  const selected = workloads(manifests).filter((workload) => selects({ matchLabels: spec.selector }, workload.podLabels));
  if (selected.length !== 1) return `${where}: Service ${name} selects ${selected.length === 0 ? "no" : "more than one"} Deployment's pods`;
  const workload = selected[0] as Workload;
  const target = containerPort(workload, port.targetPort ?? port.port);
  if (target === undefined) return `${where}: Service ${name} port ${endpoint.port} leads to ${String(port.targetPort)}, which ${workload.name} does not serve`;
  return { workload, port: target };
}

/** Every file path the bootstrap reads (filename fields: CAs, certificates, JWKS). */
function configFiles(node: unknown): string[] {
  if (Array.isArray(node)) return node.flatMap(configFiles);
  if (typeof node !== "object" || node === null) return [];
  return Object.entries(node).flatMap(([key, value]) => (key === "filename" && typeof value === "string" ? [value] : configFiles(value)));
}
