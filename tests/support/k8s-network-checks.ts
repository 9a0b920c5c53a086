import type { Manifest } from "./k8s-kustomize.js";
import { containerPort, list, ofKind, record, selects, workloads, type Workload } from "./k8s-model.js";

// NetworkPolicy semantics, enough to ask "may this pod open a connection to that port?": a pod that no
// Ingress policy selects accepts everything; a selected one accepts only what one of its policies' rules
// allows (from: pods of the namespace by podSelector, pods of other namespaces by namespaceSelector, all
// when from is absent; ports by number or by the destination's port name, all when absent).

/** A pod that opens connections: its labels and its namespace's labels. */
export interface Peer {
  description: string;
  namespace: string;
  namespaceLabels: Record<string, string>;
  labels: Record<string, string>;
}

/** A connection the mesh needs (required) or must not allow (forbidden), checked against the policies. */
export interface Edge {
  from: Peer;
  to: string;
  port: number;
  why: string;
}

/** A pod of a workload in the rendered namespace, as a peer. */
export function workloadPeer(workload: Workload): Peer {
  const namespace = workload.manifest.metadata.namespace ?? "default";
  return { description: workload.name, namespace, namespaceLabels: { "kubernetes.io/metadata.name": namespace }, labels: workload.podLabels };
}

/** Whether the policies let `from` connect to a pod of workload `to` on `port`. */
export function allowed(manifests: readonly Manifest[], from: Peer, to: Workload, port: number): boolean {
  const namespace = to.manifest.metadata.namespace ?? "default";
  const policies = ofKind(manifests, "NetworkPolicy").filter(
    (policy) => (policy.metadata.namespace ?? "default") === namespace && ingressType(policy) && selects(record(policy.spec).podSelector, to.podLabels),
  );
  if (policies.length === 0) return true;
  return policies.some((policy) =>
    list(record(policy.spec).ingress).some((rule) => {
      const peers = list(rule.from);
      const ports = list<{ port?: number | string }>(rule.ports);
      const peerOk = !("from" in rule) || peers.some((peer) => peerMatches(peer, from, namespace));
      const portOk = !("ports" in rule) || ports.some((p) => p.port === undefined || (typeof p.port === "number" ? p.port : containerPort(to, p.port)) === port);
      return peerOk && portOk;
    }),
  );
}

function ingressType(policy: Manifest): boolean {
  const types = record(policy.spec).policyTypes as string[] | undefined;
  return types === undefined || types.includes("Ingress");
}

function peerMatches(peer: Record<string, unknown>, from: Peer, policyNamespace: string): boolean {
  if ("ipBlock" in peer) return false;
  const namespaceOk = "namespaceSelector" in peer ? selects(peer.namespaceSelector, from.namespaceLabels) : from.namespace === policyNamespace;
  const podOk = "podSelector" in peer ? selects(peer.podSelector, from.labels) : true;
  return namespaceOk && podOk;
}

/** Problems: every workload isolated, selectors that select something, ports that exist, and each edge as it should be. */
export function networkProblems(manifests: readonly Manifest[], required: readonly Edge[], forbidden: readonly Edge[]): string[] {
  const problems: string[] = [];
  const all = workloads(manifests);
  const policies = ofKind(manifests, "NetworkPolicy");
  for (const workload of all) {
    if (!policies.some((policy) => ingressType(policy) && selects(record(policy.spec).podSelector, workload.podLabels))) {
      problems.push(`${workload.name}: no NetworkPolicy selects its pods, so anything in the cluster may connect to every port`);
    }
  }
  for (const policy of policies) {
    const where = `NetworkPolicy/${policy.metadata.name}`;
    const selected = all.filter((workload) => selects(record(policy.spec).podSelector, workload.podLabels));
    if (selected.length === 0) problems.push(`${where}: podSelector matches no Deployment's pods`);
    for (const rule of list(record(policy.spec).ingress)) {
      for (const peer of list(rule.from)) {
        if ("podSelector" in peer && !("namespaceSelector" in peer) && !all.some((workload) => selects(peer.podSelector, workload.podLabels))) {
          problems.push(`${where}: from.podSelector ${JSON.stringify(record(peer.podSelector).matchLabels)} matches no pod of the namespace`);
        }
      }
      for (const port of list<{ port?: number | string }>(rule.ports)) {
        if (port.port !== undefined && !selected.some((workload) => containerPort(workload, port.port as number | string) !== undefined)) {
          problems.push(`${where}: port ${port.port} is no container port of the pods it selects`);
        }
      }
    }
  }
  const byName = new Map(all.map((workload) => [workload.name, workload]));
  for (const edge of required) {
    const to = byName.get(edge.to);
    if (to === undefined) problems.push(`${edge.why}: ${edge.to} is no Deployment of the manifests`);
    else if (!allowed(manifests, edge.from, to, edge.port)) problems.push(`${edge.why}: the NetworkPolicies do not let ${edge.from.description} reach ${edge.to}:${edge.port}`);
  }
  for (const edge of forbidden) {
    const to = byName.get(edge.to);
    if (to !== undefined && allowed(manifests, edge.from, to, edge.port)) problems.push(`${edge.why}: the NetworkPolicies let ${edge.from.description} reach ${edge.to}:${edge.port}`);
  }
  return problems;
}
