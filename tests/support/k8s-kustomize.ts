import { createHash } from "node:crypto";
import { readFileSync, statSync } from "node:fs";
import { basename, join } from "node:path";
import { parseAllDocuments, stringify } from "yaml";

// No kustomize binary can be installed on a fresh machine (npm has none, Debian's kubectl is 1.20 with
// kustomize 2.0), so the tests render the subset of kustomize that deploy/k8s uses, byte for byte
// reproducible: resources (files and kustomization folders), namespace, labels (metadata only),
// images, configMapGenerator (files, literals; kustomize's content-hash name suffix and the name
// references to it) and strategic-merge patches found by kind and name. Any other field is refused, so
// the manifests cannot drift into what this renderer would silently ignore. `kubectl kustomize` renders
// the same objects (checked by hand with kustomize 5.5; see the README).

/** A Kubernetes object as parsed from YAML. */
export type Manifest = Record<string, unknown> & { apiVersion: string; kind: string; metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> } };

/** Reads a file below the kustomization root (relative path, forward slashes). */
export type ReadFile = (path: string) => string;

const supportedFields = new Set(["apiVersion", "kind", "namespace", "labels", "resources", "configMapGenerator", "images", "patches"]);
const clusterScoped = new Set(["Namespace", "ClusterRole", "ClusterRoleBinding", "CustomResourceDefinition", "PersistentVolume", "StorageClass", "PriorityClass"]);

/** Renders the kustomization in `dir` (a path of the real file system) to its objects, in kustomize's legacy order. */
export function renderKustomization(dir: string, read: ReadFile = (path) => readFileSync(path, "utf8")): Manifest[] {
  return sortLegacy(build(dir, read));
}

/** The rendered objects as one multi-document YAML text. */
export function manifestsToYaml(manifests: readonly Manifest[]): string {
  return manifests.map((manifest) => stringify(manifest, { lineWidth: 0, aliasDuplicateObjects: false })).join("---\n");
}

/** Parses multi-document YAML into objects (empty documents skipped). */
export function parseManifests(source: string, where: string): Manifest[] {
  return parseAllDocuments(source, { uniqueKeys: true }).flatMap((document, index) => {
    if (document.errors.length > 0) throw new Error(`${where} document ${index + 1}: ${document.errors.map((error) => error.message).join("; ")}`);
    const value: unknown = document.toJS();
    if (value === null || value === undefined) return [];
    if (!isRecord(value) || typeof value.kind !== "string" || typeof value.apiVersion !== "string" || !isRecord(value.metadata) || typeof value.metadata.name !== "string") {
      throw new Error(`${where} document ${index + 1}: not a Kubernetes object with apiVersion, kind and metadata.name`);
    }
    return [value as Manifest];
  });
}

function build(dir: string, read: ReadFile): Manifest[] {
  const kustomization = parseManifestFile(join(dir, "kustomization.yaml"), read);
  for (const field of Object.keys(kustomization)) {
    if (!supportedFields.has(field)) throw new Error(`${join(dir, "kustomization.yaml")}: field "${field}" is not in the subset tests/support/k8s-kustomize.ts renders`);
  }
  const resources: Manifest[] = [];
  for (const entry of list<string>(kustomization.resources)) {
    const path = join(dir, entry);
    resources.push(...(isDirectory(path) ? build(path, read) : parseManifests(read(path), path)));
  }
  const generated = list<Record<string, unknown>>(kustomization.configMapGenerator).map((spec) => generateConfigMap(dir, spec, read));
  let objects = [...resources, ...generated.map((entry) => entry.manifest)];
  for (const patch of list<Record<string, unknown>>(kustomization.patches)) {
    if (Object.keys(patch).some((key) => key !== "path")) throw new Error(`${dir}: only patches with a path (strategic merge, target by kind and name) are rendered`);
    for (const document of parseManifests(read(join(dir, String(patch.path))), String(patch.path))) objects = applyPatch(objects, document, String(patch.path));
  }
  if (typeof kustomization.namespace === "string") {
    for (const object of objects) if (!clusterScoped.has(object.kind)) object.metadata.namespace = kustomization.namespace;
  }
  for (const labels of list<Record<string, unknown>>(kustomization.labels)) {
    if (Object.keys(labels).some((key) => key !== "pairs")) throw new Error(`${dir}: labels are rendered on metadata only (no includeSelectors, no includeTemplates)`);
    for (const object of objects) object.metadata.labels = { ...object.metadata.labels, ...(labels.pairs as Record<string, string>) };
  }
  for (const image of list<Record<string, string>>(kustomization.images)) for (const object of objects) setImages(object, image);
  // The hash covers the final content, then every reference to the generated name follows it.
  for (const { manifest } of generated) {
    const plain = manifest.metadata.name;
    manifest.metadata.name = `${plain}-${configMapHash(manifest)}`;
    for (const object of objects) renameConfigMapReferences(object, plain, manifest.metadata.name);
  }
  return objects;
}

function parseManifestFile(path: string, read: ReadFile): Record<string, unknown> {
  const documents = parseAllDocuments(read(path));
  const value: unknown = documents[0]?.toJS();
  if (documents.length !== 1 || !isRecord(value)) throw new Error(`${path}: must hold one mapping`);
  return value;
}

function generateConfigMap(dir: string, spec: Record<string, unknown>, read: ReadFile): { manifest: Manifest } {
  if (Object.keys(spec).some((key) => !["name", "files", "literals"].includes(key))) throw new Error(`${dir}: configMapGenerator ${String(spec.name)}: only name, files and literals are rendered`);
  const data: Record<string, string> = {};
  for (const file of list<string>(spec.files)) {
    const [key, path] = file.includes("=") ? (file.split("=", 2) as [string, string]) : [basename(file), file];
    data[key] = read(join(dir, path));
  }
  for (const literal of list<string>(spec.literals)) {
    const at = literal.indexOf("=");
    data[literal.slice(0, at)] = literal.slice(at + 1);
  }
  return { manifest: { apiVersion: "v1", kind: "ConfigMap", metadata: { name: String(spec.name) }, data } };
}

/**
 * kustomize's ConfigMap name suffix (api/hasher): sha256 of the Go json.Marshal encoding of {data, kind, name}
 * (keys sorted, <, > and & escaped), its first ten hex digits with 0, 1, 3, a, e mapped to letters.
 */
export function configMapHash(configMap: Manifest): string {
  const encoded = goJson({ data: configMap.data ?? {}, kind: "ConfigMap", name: configMap.metadata.name });
  const hex = createHash("sha256").update(encoded).digest("hex").slice(0, 10);
  const letters: Record<string, string> = { "0": "g", "1": "h", "3": "k", a: "m", e: "t" };
  return [...hex].map((digit) => letters[digit] ?? digit).join("");
}

function goJson(value: unknown): string {
  const sorted = (node: unknown): unknown =>
    isRecord(node) ? Object.fromEntries(Object.keys(node).sort().map((key) => [key, sorted(node[key])])) : Array.isArray(node) ? node.map(sorted) : node;
  return JSON.stringify(sorted(value)).replace(/[<>&\u2028\u2029]/g, (char) => `\\u${char.charCodeAt(0).toString(16).padStart(4, "0")}`);
}

function applyPatch(objects: Manifest[], patch: Manifest, where: string): Manifest[] {
  const index = objects.findIndex((object) => object.kind === patch.kind && object.metadata.name === patch.metadata.name);
  if (index === -1) throw new Error(`${where}: patch targets ${patch.kind}/${patch.metadata.name}, which no resource is`);
  const next = [...objects];
  next[index] = strategicMerge(objects[index], patch, where) as Manifest;
  return next;
}

// The merge keys of the lists the patches touch (Kubernetes' patchMergeKey); other lists are replaced.
const mergeKeys: Readonly<Record<string, readonly string[]>> = {
  containers: ["name"],
  initContainers: ["name"],
  env: ["name"],
  volumes: ["name"],
  volumeMounts: ["mountPath"],
  ports: ["containerPort", "port"],
};

function strategicMerge(target: unknown, patch: unknown, where: string, field = ""): unknown {
  if (isRecord(patch) && "$patch" in patch) throw new Error(`${where}: $patch directives are not rendered`);
  if (isRecord(target) && isRecord(patch)) {
    const merged: Record<string, unknown> = { ...target };
    for (const [key, value] of Object.entries(patch)) {
      if (value === null) delete merged[key];
      else merged[key] = key in target ? strategicMerge(target[key], value, where, key) : value;
    }
    return merged;
  }
  const keys = mergeKeys[field];
  if (Array.isArray(target) && Array.isArray(patch) && keys !== undefined) {
    const merged = [...target];
    for (const item of patch) {
      const key = keys.find((candidate) => isRecord(item) && candidate in item);
      const at = key === undefined ? -1 : merged.findIndex((existing) => isRecord(existing) && existing[key] === (item as Record<string, unknown>)[key]);
      if (at === -1) merged.push(item);
      else merged[at] = strategicMerge(merged[at], item, where);
    }
    return merged;
  }
  return patch;
}

function podSpecs(object: Manifest): Record<string, unknown>[] {
  const spec = object.spec;
  if (!isRecord(spec)) return [];
  const template = spec.template;
  return isRecord(template) && isRecord(template.spec) ? [template.spec] : [];
}

function setImages(object: Manifest, image: Record<string, string>): void {
  for (const pod of podSpecs(object)) {
    for (const container of [...list<Record<string, string>>(pod.initContainers), ...list<Record<string, string>>(pod.containers)]) {
      const current = container.image ?? "";
      const name = current.split("@")[0]!.replace(/:[^/:]+$/, "");
      if (name !== image.name) continue;
      const tag = current.slice(name.length);
      container.image = (image.newName ?? name) + (image.digest ? `@${image.digest}` : image.newTag ? `:${image.newTag}` : tag);
    }
  }
}

function renameConfigMapReferences(object: Manifest, from: string, to: string): void {
  const rename = (reference: unknown) => {
    if (isRecord(reference) && reference.name === from) reference.name = to;
  };
  for (const pod of podSpecs(object)) {
    for (const volume of list<Record<string, unknown>>(pod.volumes)) {
      rename(volume.configMap);
      for (const source of list<Record<string, unknown>>((volume.projected as Record<string, unknown> | undefined)?.sources)) rename(source.configMap);
    }
    for (const container of [...list<Record<string, unknown>>(pod.initContainers), ...list<Record<string, unknown>>(pod.containers)]) {
      for (const envFrom of list<Record<string, unknown>>(container.envFrom)) rename(envFrom.configMapRef);
      for (const env of list<Record<string, unknown>>(container.env)) rename((env.valueFrom as Record<string, unknown> | undefined)?.configMapKeyRef);
    }
  }
}

// kustomize's "legacy" output order (api/resid/gvk.go): these kinds first, in this order; the rest after,
// then by name.
const orderFirst = [
  "Namespace", "ResourceQuota", "StorageClass", "CustomResourceDefinition", "ServiceAccount", "PodSecurityPolicy", "Role", "ClusterRole",
  "RoleBinding", "ClusterRoleBinding", "ConfigMap", "Secret", "Endpoints", "Service", "LimitRange", "PriorityClass", "PersistentVolume",
  "PersistentVolumeClaim", "Deployment", "StatefulSet", "CronJob", "PodDisruptionBudget",
];

function sortLegacy(objects: Manifest[]): Manifest[] {
  const rank = (object: Manifest) => {
    const index = orderFirst.indexOf(object.kind);
    return index === -1 ? orderFirst.length : index;
  };
  const gvk = (object: Manifest) => `${object.apiVersion}/${object.kind}`;
  return [...objects].sort((a, b) => rank(a) - rank(b) || (rank(a) === orderFirst.length ? gvk(a).localeCompare(gvk(b)) : 0) || a.metadata.name.localeCompare(b.metadata.name));
}

function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

function list<T>(value: unknown): T[] {
  return Array.isArray(value) ? (value as T[]) : [];
}

/** A plain mapping (not an array, not null). */
export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
