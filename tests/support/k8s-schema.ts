import { Cluster } from "@kubernetes-models/cloudnative-pg/postgresql.cnpg.io/v1";
import { Deployment } from "kubernetes-models/apps/v1";
import { HorizontalPodAutoscaler } from "kubernetes-models/autoscaling/v2";
import { NetworkPolicy } from "kubernetes-models/networking.k8s.io/v1";
import { PodDisruptionBudget } from "kubernetes-models/policy/v1";
import { ConfigMap, Namespace, Secret, Service } from "kubernetes-models/v1";
import type { Manifest } from "./k8s-kustomize.js";

// Every object is checked against the OpenAPI schema of its kind: Kubernetes' own (kubernetes-models,
// generated from the API's OpenAPI document) and CloudNativePG's CRD (@kubernetes-models/cloudnative-pg).
// Their validators accept fields the schema does not name (the API server would drop them, or refuse
// them with kubectl's strict field validation); a typo like `readinesProbe` would then pass unnoticed.
// So each object is validated through a proxy that records which fields the validator looked up: a
// schema's validator reads every property it declares (to check it), so a field it never read is one the
// schema does not have.

interface Validated {
  prototype: { validate(): void };
}

const models: Readonly<Record<string, Validated>> = {
  "v1/Namespace": Namespace,
  "v1/ConfigMap": ConfigMap,
  "v1/Secret": Secret,
  "v1/Service": Service,
  "apps/v1/Deployment": Deployment,
  "policy/v1/PodDisruptionBudget": PodDisruptionBudget,
  "autoscaling/v2/HorizontalPodAutoscaler": HorizontalPodAutoscaler,
  "networking.k8s.io/v1/NetworkPolicy": NetworkPolicy,
  "postgresql.cnpg.io/v1/Cluster": Cluster,
};

/** Schema problems of one object: validator errors and fields its schema does not have, each naming the object and the path. */
export function schemaProblems(manifest: Manifest): string[] {
  const where = `${manifest.kind}/${manifest.metadata.name}`;
  const model = models[`${manifest.apiVersion}/${manifest.kind}`];
  if (model === undefined) return [`${where}: no schema for ${manifest.apiVersion} ${manifest.kind} (add its model to tests/support/k8s-schema.ts)`];
  const reads = new Map<string, { value: Record<string, unknown>; read: Set<string> }>();
  const problems: string[] = [];
  try {
    model.prototype.validate.call(recording(manifest, "", reads));
  } catch (error) {
    problems.push(`${where}: ${(error as Error).message.replace(/\s+/g, " ").trim()}`);
  }
  for (const [path, { value, read }] of reads) {
    for (const key of Object.keys(value)) {
      if (!read.has(key)) problems.push(`${where}: ${path}/${key}: unknown field "${key}" (not in the ${manifest.apiVersion} ${manifest.kind} schema)`);
    }
  }
  return problems;
}

function recording(value: unknown, path: string, reads: Map<string, { value: Record<string, unknown>; read: Set<string> }>): unknown {
  if (typeof value !== "object" || value === null) return value;
  const read = new Set<string>();
  if (!Array.isArray(value)) reads.set(path, { value: value as Record<string, unknown>, read });
  return new Proxy(value, {
    get(target, key, receiver) {
      const found: unknown = Reflect.get(target, key, receiver);
      if (typeof key !== "string" || !Object.hasOwn(target, key)) return found;
      read.add(key);
      return recording(found, `${path}/${key}`, reads);
    },
  });
}
