import { appProblems, type AppContext } from "./k8s-app-checks.js";
import type { Json } from "./envoy-config-model.js";
import { gatewayProblems } from "./k8s-envoy-checks.js";
import { exposureEdges } from "./k8s-exposure.js";
import type { Manifest } from "./k8s-kustomize.js";
import { networkProblems } from "./k8s-network-checks.js";
import { schemaProblems } from "./k8s-schema.js";
import { disruptionProblems, probePresenceProblems, securityProblems } from "./k8s-workload-checks.js";

/** What the checks of a rendering compare it with. */
export interface K8sContext extends AppContext {
  /** The generated gateway config: its text (the ConfigMap must hold it) and its validated bootstrap. */
  envoy: { text: string; bootstrap: Json };
}

/** Every problem of a rendered set of manifests, schema first. */
export function k8sProblems(manifests: readonly Manifest[], context: K8sContext): string[] {
  const apps = appProblems(manifests, context);
  const gateway = gatewayProblems(manifests, context.envoy.bootstrap, context.envoy.text);
  const exposure = exposureEdges(manifests, apps.apps, gateway.gateway, gateway.upstreams);
  return [
    ...manifests.flatMap(schemaProblems),
    ...duplicateProblems(manifests),
    ...securityProblems(manifests),
    ...probePresenceProblems(manifests),
    ...disruptionProblems(manifests),
    ...apps.problems,
    ...gateway.problems,
    ...networkProblems(manifests, [...apps.required, ...gateway.required, ...exposure.required], exposure.forbidden),
  ];
}

function duplicateProblems(manifests: readonly Manifest[]): string[] {
  const seen = new Set<string>();
  const problems: string[] = [];
  for (const manifest of manifests) {
    const id = `${manifest.kind}/${manifest.metadata.namespace ?? ""}/${manifest.metadata.name}`;
    if (seen.has(id)) problems.push(`${manifest.kind}/${manifest.metadata.name}: defined twice`);
    seen.add(id);
  }
  return problems;
}
