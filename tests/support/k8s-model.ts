import { isRecord, type Manifest } from "./k8s-kustomize.js";

// Rendered manifests read as the checks need them: workloads with their pods' labels and containers,
// Services, and where each environment variable of a container comes from.

/** A container of a pod template, as the checks read it. */
export interface Container {
  name: string;
  image: string;
  command: string[];
  ports: { name?: string; containerPort: number }[];
  env: { name: string; value?: string; valueFrom?: Record<string, Record<string, string>> }[];
  envFrom: { configMapRef?: { name: string }; secretRef?: { name: string } }[];
  readinessProbe?: Probe;
  livenessProbe?: Probe;
  startupProbe?: Probe;
  lifecycle?: { preStop?: Probe };
  securityContext?: Record<string, unknown>;
  resources?: { requests?: Record<string, string>; limits?: Record<string, string> };
  volumeMounts: { name: string; mountPath: string }[];
  imagePullPolicy?: string;
}

/** A probe or lifecycle handler. */
export interface Probe {
  exec?: { command: string[] };
  grpc?: { port: number; service?: string };
  tcpSocket?: { port: number | string };
  httpGet?: { port: number | string; path?: string };
}

/** A Deployment with its pod template read out. */
export interface Workload {
  name: string;
  manifest: Manifest;
  podLabels: Record<string, string>;
  podAnnotations: Record<string, string>;
  pod: Record<string, unknown>;
  containers: Container[];
  initContainers: Container[];
  volumes: Record<string, unknown>[];
}

/** Every Deployment of the rendered manifests. */
export function workloads(manifests: readonly Manifest[]): Workload[] {
  return manifests
    .filter((manifest) => manifest.kind === "Deployment")
    .map((manifest) => {
      const template = record(record(manifest.spec).template);
      const pod = record(template.spec);
      const metadata = record(template.metadata);
      return {
        name: manifest.metadata.name,
        manifest,
        podLabels: record(metadata.labels) as Record<string, string>,
        podAnnotations: record(metadata.annotations) as Record<string, string>,
        pod,
        containers: list(pod.containers).map(container),
        initContainers: list(pod.initContainers).map(container),
        volumes: list(pod.volumes),
      };
    });
}

function container(raw: Record<string, unknown>): Container {
  return { ...(raw as unknown as Container), command: list<string>(raw.command), ports: list(raw.ports), env: list(raw.env), envFrom: list(raw.envFrom), volumeMounts: list(raw.volumeMounts) };
}

/** Whether a label selector ({matchLabels}) selects these labels; an empty selector selects everything. */
export function selects(selector: unknown, labels: Record<string, string>): boolean {
  const match = record(record(selector).matchLabels) as Record<string, string>;
  if ("matchExpressions" in record(selector)) throw new Error("matchExpressions are not read by the checks; use matchLabels");
  return Object.entries(match).every(([key, value]) => labels[key] === value);
}

/** The objects of one kind. */
export function ofKind(manifests: readonly Manifest[], kind: string): Manifest[] {
  return manifests.filter((manifest) => manifest.kind === kind);
}

/** The object of a kind and name, if rendered. */
export function find(manifests: readonly Manifest[], kind: string, name: string): Manifest | undefined {
  return manifests.find((manifest) => manifest.kind === kind && manifest.metadata.name === name);
}

/** A container port by number or name. */
export function containerPort(workload: Workload, port: number | string): number | undefined {
  for (const c of workload.containers) {
    const found = c.ports.find((p) => (typeof port === "number" ? p.containerPort === port : p.name === port));
    if (found) return found.containerPort;
  }
  return undefined;
}

/** A Secret's or ConfigMap's values (stringData and base64 data decoded). */
export function dataOf(manifest: Manifest): Record<string, string> {
  const decoded = Object.fromEntries(Object.entries(record(manifest.data) as Record<string, string>).map(([key, value]) => [key, manifest.kind === "Secret" ? Buffer.from(value, "base64").toString("utf8") : value]));
  return { ...decoded, ...(record(manifest.stringData) as Record<string, string>) };
}

/** Where one environment variable's value comes from. */
export type EnvSource = { literal: string } | { configMap: string; key: string } | { secret: string; key: string };

/** The environment of a container by variable name: envFrom ConfigMaps first, then env entries (which win, as in Kubernetes). */
export function envSources(manifests: readonly Manifest[], c: Container): { sources: Map<string, EnvSource>; problems: string[] } {
  const sources = new Map<string, EnvSource>();
  const problems: string[] = [];
  for (const from of c.envFrom) {
    if (from.secretRef) problems.push(`${c.name}: envFrom secretRef ${from.secretRef.name}: the variables of a Secret cannot be checked; name each with secretKeyRef`);
    if (!from.configMapRef) continue;
    const configMap = find(manifests, "ConfigMap", from.configMapRef.name);
    if (configMap === undefined) {
      problems.push(`${c.name}: envFrom configMapRef ${from.configMapRef.name}, which is not in the manifests`);
      continue;
    }
    for (const key of Object.keys(dataOf(configMap))) sources.set(key, { configMap: configMap.metadata.name, key });
  }
  for (const entry of c.env) {
    const secret = entry.valueFrom?.secretKeyRef;
    const configMap = entry.valueFrom?.configMapKeyRef;
    if (entry.value !== undefined) sources.set(entry.name, { literal: entry.value });
    else if (secret) sources.set(entry.name, { secret: secret.name ?? "", key: secret.key ?? "" });
    else if (configMap) sources.set(entry.name, { configMap: configMap.name ?? "", key: configMap.key ?? "" });
    else problems.push(`${c.name}: env ${entry.name} has neither a value nor a secretKeyRef/configMapKeyRef`);
  }
  return { sources, problems };
}

/** The file a container sees at `path`, as the volume, key and object behind it; undefined when no mount covers it. */
export function mountedFile(workload: Workload, c: Container, path: string): { volume: Record<string, unknown>; source: "secret" | "configMap"; name: string; key: string } | undefined {
  for (const mount of c.volumeMounts) {
    const prefix = mount.mountPath.endsWith("/") ? mount.mountPath : `${mount.mountPath}/`;
    if (!path.startsWith(prefix)) continue;
    const relative = path.slice(prefix.length);
    const volume = workload.volumes.find((v) => v.name === mount.name);
    if (volume === undefined) continue;
    const sources = isRecord(volume.projected) ? list(volume.projected.sources) : [volume];
    for (const source of sources) {
      for (const kind of ["secret", "configMap"] as const) {
        const spec = source[kind];
        if (!isRecord(spec)) continue;
        const name = String(spec.secretName ?? spec.name);
        const items = list<{ key: string; path: string }>(spec.items);
        const item = items.length === 0 ? { key: relative, path: relative } : items.find((i) => i.path === relative);
        if (item) return { volume, source: kind, name, key: item.key };
      }
    }
  }
  return undefined;
}

/** A mapping (empty when the value is not one). */
export function record(value: unknown): Record<string, unknown> {
  return isRecord(value) ? value : {};
}

/** An array of mappings (empty when the value is not an array). */
export function list<T = Record<string, unknown>>(value: unknown): T[] {
  return Array.isArray(value) ? (value as T[]) : [];
}
