import type { Manifest } from "./k8s-kustomize.js";
import { find, ofKind, record, selects, workloads, type Container, type Workload } from "./k8s-model.js";

// Checks that hold for every Deployment, whatever it runs: hardened containers with bounded resources,
// probes, pinned images, and disruption budgets and autoscalers that point at something real.

/** Problems of the pods' and containers' security settings and resources. */
export function securityProblems(manifests: readonly Manifest[]): string[] {
  const problems: string[] = [];
  for (const workload of workloads(manifests)) {
    const pod = record(workload.pod.securityContext);
    if (workload.pod.automountServiceAccountToken !== false) problems.push(`${workload.name}: automountServiceAccountToken is not false; no ordermesh pod talks to the API server`);
    for (const c of [...workload.initContainers, ...workload.containers]) {
      const where = `${workload.name}/${c.name}`;
      const own = record(c.securityContext);
      const setting = (key: string) => own[key] ?? pod[key];
      if (setting("runAsNonRoot") !== true) problems.push(`${where}: runAsNonRoot is not true`);
      const user = setting("runAsUser");
      // The images name their users ("node", "envoy"): the kubelet refuses runAsNonRoot unless the uid is a number it can check.
      if (typeof user !== "number" || user <= 0) problems.push(`${where}: runAsUser is ${String(user)}; set the image user's uid (not 0), so runAsNonRoot can be verified`);
      if (own.readOnlyRootFilesystem !== true) problems.push(`${where}: readOnlyRootFilesystem is not true`);
      if (own.allowPrivilegeEscalation !== false) problems.push(`${where}: allowPrivilegeEscalation is not false`);
      const dropped = (record(own.capabilities).drop as string[] | undefined) ?? [];
      if (!dropped.includes("ALL")) problems.push(`${where}: capabilities.drop does not include ALL`);
      if ("add" in record(own.capabilities)) problems.push(`${where}: adds capabilities`);
      if (own.privileged === true) problems.push(`${where}: runs privileged`);
      const seccomp = record(setting("seccompProfile")).type;
      if (seccomp !== "RuntimeDefault" && seccomp !== "Localhost") problems.push(`${where}: seccompProfile is ${String(seccomp ?? "unset")}, not RuntimeDefault`);
      problems.push(...resourceProblems(where, c));
      problems.push(...imageProblems(where, c));
    }
  }
  return problems;
}

function resourceProblems(where: string, c: Container): string[] {
  const problems: string[] = [];
  for (const kind of ["requests", "limits"] as const) {
    for (const resource of ["cpu", "memory"]) {
      if (c.resources?.[kind]?.[resource] === undefined) problems.push(`${where}: no resources.${kind}.${resource}`);
    }
  }
  return problems;
}

function imageProblems(where: string, c: Container): string[] {
  if (c.image.includes("@sha256:")) return [];
  const tag = /:([^/:]+)$/.exec(c.image)?.[1];
  if (tag === undefined) return [`${where}: image ${c.image} has no tag (that means latest)`];
  if (/latest/i.test(tag) || !/\d/.test(tag)) return [`${where}: image ${c.image} names no fixed version`];
  return [];
}

/** Every long-running container says when it is ready and when it is stuck. */
export function probePresenceProblems(manifests: readonly Manifest[]): string[] {
  return workloads(manifests).flatMap((workload) =>
    workload.containers.flatMap((c) => [
      ...(c.readinessProbe ? [] : [`${workload.name}/${c.name}: no readinessProbe, so it gets traffic before it can serve`]),
      ...(c.livenessProbe ? [] : [`${workload.name}/${c.name}: no livenessProbe`]),
    ]),
  );
}

/** PodDisruptionBudgets and HorizontalPodAutoscalers name existing Deployments and leave room to drain a node. */
export function disruptionProblems(manifests: readonly Manifest[]): string[] {
  const problems: string[] = [];
  const all = workloads(manifests);
  const autoscalers = ofKind(manifests, "HorizontalPodAutoscaler");
  const minReplicas = (workload: Workload) => {
    const hpa = autoscalers.find((candidate) => record(record(candidate.spec).scaleTargetRef).name === workload.name);
    return hpa ? Number(record(hpa.spec).minReplicas ?? 1) : Number(record(workload.manifest.spec).replicas ?? 1);
  };
  for (const hpa of autoscalers) {
    const spec = record(hpa.spec);
    const target = record(spec.scaleTargetRef);
    const where = `HorizontalPodAutoscaler/${hpa.metadata.name}`;
    const workload = target.kind === "Deployment" ? find(manifests, "Deployment", String(target.name)) : undefined;
    if (workload === undefined) {
      problems.push(`${where}: scaleTargetRef ${String(target.kind)}/${String(target.name)} is no Deployment of the manifests`);
      continue;
    }
    if (target.apiVersion !== "apps/v1") problems.push(`${where}: scaleTargetRef.apiVersion is ${String(target.apiVersion)}, not apps/v1`);
    if ("replicas" in record(workload.spec)) problems.push(`Deployment/${workload.metadata.name}: sets replicas although ${where} owns the count (every apply would reset it)`);
    if (Number(spec.minReplicas ?? 1) > Number(spec.maxReplicas)) problems.push(`${where}: minReplicas above maxReplicas`);
  }
  for (const pdb of ofKind(manifests, "PodDisruptionBudget")) {
    const spec = record(pdb.spec);
    const where = `PodDisruptionBudget/${pdb.metadata.name}`;
    const selected = all.filter((workload) => selects(spec.selector, workload.podLabels));
    if (selected.length !== 1) {
      problems.push(`${where}: its selector matches ${selected.length === 0 ? "no" : "more than one"} Deployment's pods`);
      continue;
    }
    const workload = selected[0] as Workload;
    const replicas = minReplicas(workload);
    if (replicas < 2) problems.push(`${where}: ${workload.name} may run a single pod, which no budget keeps available while a node drains`);
    if (spec.minAvailable !== undefined && Number(spec.minAvailable) >= replicas) {
      problems.push(`${where}: minAvailable ${String(spec.minAvailable)} with ${replicas} replicas blocks every node drain`);
    }
    if (spec.maxUnavailable !== undefined && Number(spec.maxUnavailable) < 1) problems.push(`${where}: maxUnavailable 0 blocks every node drain`);
  }
  return problems;
}
