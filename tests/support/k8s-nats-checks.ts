import { record } from "./k8s-model.js";

// deploy/k8s/nats/values.yaml for the official nats Helm chart: what the README promises of the broker.

/** The client address the release serves: nats://<release>:<config.nats.port> (chart default 4222). */
export function natsAddress(values: unknown, release: string): { host: string; port: number } {
  return { host: release, port: Number(record(record(record(values).config).nats).port ?? 4222) };
}

/** Problems of the values: a 3-node cluster with JetStream on persistent file storage, fsync on every write. */
export function natsValuesProblems(values: unknown, path: string): string[] {
  const config = record(record(values).config);
  const cluster = record(config.cluster);
  const jetstream = record(config.jetstream);
  const fileStore = record(jetstream.fileStore);
  const problems: string[] = [];
  if (cluster.enabled !== true) problems.push(`${path}: config.cluster.enabled is not true, so one server holds every stream`);
  if (!(Number(cluster.replicas) >= 3)) problems.push(`${path}: config.cluster.replicas is ${String(cluster.replicas)}; JetStream needs 3 servers to keep a replicated stream with one down`);
  if (jetstream.enabled !== true) problems.push(`${path}: config.jetstream.enabled is not true`);
  if (fileStore.enabled === false) problems.push(`${path}: config.jetstream.fileStore is disabled; the streams would live in memory`);
  if (record(fileStore.pvc).enabled === false) problems.push(`${path}: config.jetstream.fileStore.pvc is disabled; the store would die with the pod`);
  if (record(jetstream.memoryStore).enabled === true) problems.push(`${path}: config.jetstream.memoryStore is enabled; the mesh's streams are file-backed`);
  if (record(jetstream.merge).sync_interval !== "always") {
    problems.push(`${path}: config.jetstream.merge.sync_interval is not "always", so acknowledged writes may sit unsynced for up to two minutes`);
  }
  if (record(values).podDisruptionBudget !== undefined && record(record(values).podDisruptionBudget).enabled === false) problems.push(`${path}: podDisruptionBudget disabled`);
  return problems;
}
