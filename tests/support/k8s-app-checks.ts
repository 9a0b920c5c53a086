import type { Env } from "../../services/platform/process/index.js";
import type { Manifest } from "./k8s-kustomize.js";
import { livenessService } from "../../services/platform/rpc/index.js";
import { containerPort, dataOf, envSources, find, mountedFile, record, selects, workloads, type Container, type EnvSource, type Probe, type Workload } from "./k8s-model.js";
import { workloadPeer, type Edge } from "./k8s-network-checks.js";

// The ordermesh processes on Kubernetes: each Deployment's environment goes through the service's own
// config loader (every variable it sets must be one the loader reads), and what the loader returns —
// ports, TLS, the shutdown grace, the addresses of its database, NATS and upstreams — must agree with
// the container's ports, probes, preStop and grace period, mounts, Services and CloudNativePG clusters.

/** What the checks need from a service's loaded config. */
export interface K8sAppView {
  bindHost: string;
  grpcPort: number;
  webPort: number | undefined;
  metricsPort: number | undefined;
  /** HEALTH_PORT: grpc.health.v1 alone, plaintext (the kubelet's gRPC probe cannot speak TLS). */
  healthPort: number | undefined;
  /** Whether the listeners speak TLS (TLS_CERT_FILE set). */
  tls: boolean;
  /** SHUTDOWN_GRACE_MS: in-flight calls' time after SIGTERM. */
  shutdownGraceMs: number;
  /** What stopping takes after the servers: consumers finishing their batches, the pools closing. */
  drainMs: number;
  /** The database URL variable and the URL it holds. */
  database: { variable: string; url: string };
  natsUrl: string;
  /** gRPC upstreams: the variable, its host:port, and the app that must serve there. */
  grpcDependencies: { variable: string; target: string; app: string }[];
}

/** One service: how its process starts, its config loader, and the function that migrates its database. */
export interface K8sApp {
  /** The compiled entry point, e.g. dist/services/orders/main.js. */
  entry: string;
  /** Runs the service's config loader on an environment; throws ConfigError when it refuses it. */
  load(env: Env): K8sAppView;
  /** The module (source path) and export that open and migrate the service's database. */
  migrations: { module: string; exportName: string };
}

/** Everything the app checks compare the manifests with. */
export interface AppContext {
  apps: Readonly<Record<string, K8sApp>>;
  /** The image every service and its migration runs (docker build -t <image> .). */
  image: string;
  /** Variables the processes read outside their config loaders (the logger's LOG_LEVEL). */
  processWideVariables: readonly string[];
  /** Values of Secret keys the manifests reference but do not contain (made by an operator or by hand), by "secret/key". */
  standIns: Readonly<Record<string, string>>;
  /** NATS as the Helm release serves it. */
  nats: { host: string; port: number };
  /** Reads a source file of the repository, undefined when missing. */
  readSource(path: string): string | undefined;
}

/** A service found in the manifests with its loaded config. */
export interface LoadedK8sApp {
  app: string;
  workload: Workload;
  container: Container;
  view: K8sAppView;
}

/** The outcome of the app checks: problems, the loaded apps, and the connections they need. */
export interface AppChecks {
  problems: string[];
  apps: LoadedK8sApp[];
  required: Edge[];
}


/** Checks every service's Deployment against its config loader and the rest of the manifests. */
export function appProblems(manifests: readonly Manifest[], context: AppContext): AppChecks {
  const problems: string[] = [];
  const loaded: LoadedK8sApp[] = [];
  const required: Edge[] = [];
  const clusters = new Map<string, string>();
  for (const [app, spec] of Object.entries(context.apps)) {
    const runners = workloads(manifests).filter((workload) => workload.containers.some((c) => c.command.includes(spec.entry)));
    if (runners.length !== 1) {
      problems.push(`${runners.length === 0 ? "no" : "more than one"} Deployment runs ${spec.entry}`);
      continue;
    }
    const workload = runners[0] as Workload;
    const container = workload.containers.find((c) => c.command.includes(spec.entry)) as Container;
    const where = `${workload.name}`;
    if (workload.name !== app) problems.push(`${where}: runs ${app}; name the Deployment "${app}" (its Service, certificate and Envoy cluster share the name)`);
    if (container.command.join(" ") !== `node ${spec.entry}`) problems.push(`${where}: command must be "node ${spec.entry}", got "${container.command.join(" ")}"`);
    for (const c of [...workload.initContainers, ...workload.containers]) {
      if (c.image !== context.image) problems.push(`${where}/${c.name}: image ${c.image}, but the services run ${context.image} (the Dockerfile's image)`);
    }
    const env = environment(manifests, workload, container, context);
    problems.push(...env.problems.map((problem) => `${where}: ${problem}`));
    const reads = new Set<string>();
    let view: K8sAppView;
    try {
      view = spec.load(recordingEnv(env.values, reads));
    } catch (error) {
      problems.push(`${where}: its config loader rejects the environment: ${(error as Error).message}`);
      continue;
    }
    for (const name of Object.keys(env.values)) {
      if (!reads.has(name) && !context.processWideVariables.includes(name)) problems.push(`${where}: sets ${name}, which ${app}'s config never reads (a typo, or a variable of another service)`);
    }
    loaded.push({ app, workload, container, view });
    if (view.bindHost !== "0.0.0.0" && view.bindHost !== "::") problems.push(`${where}: BIND_HOST is ${view.bindHost}; the kubelet, Services and peers reach the pod only on 0.0.0.0`);
    problems.push(...portProblems(where, container, view));
    problems.push(...probeProblems(where, workload, container, view));
    problems.push(...drainProblems(where, workload, container, view));
    problems.push(...scrapeProblems(where, workload, view));
    problems.push(...mountProblems(where, app, workload, container, env.values));
    problems.push(...migrationProblems(where, workload, spec, env.sources, context.readSource));
    const database = databaseProblems(where, manifests, env.sources.get(view.database.variable), view.database.variable);
    problems.push(...database.problems);
    if (database.cluster !== undefined) {
      const owner = clusters.get(database.cluster);
      if (owner !== undefined) problems.push(`${where}: ${view.database.variable} uses CloudNativePG cluster ${database.cluster}, which already belongs to ${owner}; each service owns its database`);
      clusters.set(database.cluster, app);
    }
    const nats = hostPort(view.natsUrl);
    if (nats.host !== context.nats.host || nats.port !== context.nats.port) {
      problems.push(`${where}: NATS_URL=${view.natsUrl}, but the NATS Helm release serves nats://${context.nats.host}:${context.nats.port}`);
    }
  }
  for (const { app, workload, view } of loaded) {
    for (const dependency of view.grpcDependencies) {
      const target = loaded.find((candidate) => candidate.app === dependency.app);
      const where = `${workload.name}: ${dependency.variable}=${dependency.target}`;
      if (target === undefined) {
        problems.push(`${where}: ${dependency.app} is not deployed`);
        continue;
      }
      // host:port or dns:///host:port (grpc-js resolves every address of a headless Service).
      const address = dependency.target.replace(/^dns:\/\/\//, "");
      problems.push(...serviceProblems(where, manifests, hostPort(`grpc://${address}`), target, target.view.grpcPort, workload.manifest.metadata.namespace));
      // The certificate of a service names it (DNS SAN <service>), and grpc-js checks the dialled host against it.
      const host = address.split(":")[0] ?? "";
      if (host.split(".")[0] !== target.app) problems.push(`${where}: dials ${host}, but ${target.app}'s certificate names the host ${target.app}; TLS would refuse it`);
      required.push({ from: workloadPeer(workload), to: target.workload.name, port: target.view.grpcPort, why: `${app}'s ${dependency.variable}` });
    }
  }
  return { problems, apps: loaded, required };
}

/** Downward API fields a container may read into its environment, with a stand-in value. */
const downwardFields: Record<string, string> = { "status.podIP": "10.0.0.10", "metadata.name": "pod-0", "metadata.namespace": "ordermesh", "spec.nodeName": "node-0" };

interface Environment {
  values: Record<string, string>;
  sources: ReturnType<typeof envSources>["sources"];
  problems: string[];
}

function environment(manifests: readonly Manifest[], workload: Workload, container: Container, context: AppContext): Environment {
  const { sources, problems } = envSources(manifests, container);
  const values: Record<string, string> = {};
  for (const [name, source] of sources) {
    if ("literal" in source) {
      values[name] = source.literal;
      continue;
    }
    // The downward API: what the kubelet fills in (status.podIP and the like) is a pod's own.
    if ("field" in source) {
      if (!downwardFields[source.field]) problems.push(`${container.name}: env ${name} reads ${source.field}, which the downward API does not offer`);
      values[name] = downwardFields[source.field] ?? "";
      continue;
    }
    const kind = "secret" in source ? "Secret" : "ConfigMap";
    const objectName = "secret" in source ? source.secret : source.configMap;
    const object = find(manifests, kind, objectName);
    const value = object ? dataOf(object)[source.key] : (cnpgUri(manifests, objectName, source.key, workload.manifest.metadata.namespace) ?? context.standIns[`${objectName}/${source.key}`]);
    if (value === undefined) problems.push(`${name} comes from ${kind} ${objectName} key ${source.key}, which neither the manifests nor CloudNativePG provide, and no stand-in is known`);
    else values[name] = value;
  }
  return { values, sources, problems };
}

/** The URI CloudNativePG keeps in the Secret <cluster>-app (key uri) for the cluster's application database. */
function cnpgUri(manifests: readonly Manifest[], secret: string, key: string, namespace: string | undefined): string | undefined {
  if (!secret.endsWith("-app") || key !== "uri") return undefined;
  const cluster = find(manifests, "Cluster", secret.slice(0, -"-app".length));
  if (cluster === undefined) return undefined;
  const initdb = record(record(record(cluster.spec).bootstrap).initdb);
  const database = String(initdb.database ?? "app");
  const owner = String(initdb.owner ?? database);
  return `postgresql://${owner}:cnpg-generated@${cluster.metadata.name}-rw.${namespace ?? "default"}:5432/${database}`;
}

function recordingEnv(values: Record<string, string>, reads: Set<string>): Env {
  return new Proxy(values, {
    get(target, key) {
      if (typeof key === "string") reads.add(key);
      return typeof key === "string" ? target[key] : undefined;
    },
  });
}

function portProblems(where: string, container: Container, view: K8sAppView): string[] {
  const problems: string[] = [];
  const listens = new Map<number, string>([[view.grpcPort, "grpc"]]);
  if (view.webPort !== undefined) listens.set(view.webPort, "web");
  if (view.metricsPort !== undefined) listens.set(view.metricsPort, "metrics");
  if (view.healthPort !== undefined) listens.set(view.healthPort, "health");
  for (const [port, name] of listens) {
    const declared = container.ports.find((p) => p.containerPort === port);
    if (declared === undefined) problems.push(`${where}: listens on ${port} (${name}), which is no containerPort`);
    else if (declared.name !== name) problems.push(`${where}: containerPort ${port} is named ${declared.name ?? "nothing"}; name it ${name} (Services and policies refer to it)`);
  }
  for (const port of container.ports) {
    if (!listens.has(port.containerPort)) problems.push(`${where}: containerPort ${port.containerPort} (${port.name ?? "unnamed"}) is not a port the service listens on`);
  }
  return problems;
}

function probeProblems(where: string, workload: Workload, container: Container, view: K8sAppView): string[] {
  const problems: string[] = [];
  // The kubelet's gRPC probe dials h2c without TLS (a TLS mode is only an alpha in Kubernetes 1.37), so
  // with TLS on the gRPC port it must ask the plaintext health-only port (HEALTH_PORT).
  const probeable = view.tls ? view.healthPort : (view.healthPort ?? view.grpcPort);
  const grpcProbe = (kind: string, probe: Probe | undefined, service: string) => {
    if (probe === undefined) return [`${where}: no ${kind} on grpc.health.v1`];
    if (!probe.grpc) return [`${where}: ${kind} must be the kubelet's native gRPC probe on grpc.health.v1 (grpc: {port, service})`];
    if (probeable === undefined) return [`${where}: ${kind} uses the kubelet's gRPC probe, which speaks plaintext, but port ${view.grpcPort} serves TLS (TLS_CERT_FILE) and no HEALTH_PORT is set: it would never pass`];
    const out: string[] = [];
    if (probe.grpc.port !== probeable) out.push(`${where}: ${kind} asks grpc.health.v1 on ${probe.grpc.port}, but the plaintext health port is ${probeable}`);
    if ((probe.grpc.service ?? "") !== service) out.push(`${where}: ${kind} asks service "${probe.grpc.service ?? ""}"; it must ask "${service}"`);
    return out;
  };
  // Readiness follows the dependencies ("" is NOT_SERVING while the database is away: out of rotation);
  // liveness and start-up only the process ("liveness": a database outage restarts nothing).
  problems.push(...grpcProbe("readinessProbe", container.readinessProbe, ""));
  problems.push(...grpcProbe("livenessProbe", container.livenessProbe, livenessService));
  if (container.startupProbe) problems.push(...grpcProbe("startupProbe", container.startupProbe, livenessService));
  for (const [kind, probe] of [["readinessProbe", container.readinessProbe], ["livenessProbe", container.livenessProbe], ["startupProbe", container.startupProbe]] as const) {
    const port = probe && probePort(probe);
    if (port !== undefined && containerPort(workload, port) === undefined) problems.push(`${where}: ${kind} probes port ${port}, which is no containerPort`);
  }
  return problems;
}

function probePort(probe: Probe): number | string | undefined {
  return probe.grpc?.port ?? probe.tcpSocket?.port ?? probe.httpGet?.port;
}

function drainProblems(where: string, workload: Workload, container: Container, view: K8sAppView): string[] {
  const command = container.lifecycle?.preStop?.exec?.command ?? [];
  if (command[0] !== "sleep" || !/^\d+$/.test(command[1] ?? "")) {
    return [`${where}: no preStop sleep, so SIGTERM (NOT_SERVING, no new calls) can arrive before endpoints, DNS and the gateway stop sending calls`];
  }
  const grace = Number(workload.pod.terminationGracePeriodSeconds ?? 30);
  const needed = Number(command[1]) + Math.ceil((view.shutdownGraceMs + view.drainMs) / 1000);
  return grace >= needed
    ? []
    : [`${where}: terminationGracePeriodSeconds ${grace} is shorter than preStop ${command[1]} s + SHUTDOWN_GRACE_MS ${view.shutdownGraceMs / 1000} s + ${view.drainMs / 1000} s of drain: the kubelet would SIGKILL calls in flight`];
}

function scrapeProblems(where: string, workload: Workload, view: K8sAppView): string[] {
  if (view.metricsPort === undefined) return [`${where}: its metrics port is off, so Prometheus cannot scrape it`];
  const annotations = workload.podAnnotations;
  const problems: string[] = [];
  if (annotations["prometheus.io/scrape"] !== "true") problems.push(`${where}: pod annotation prometheus.io/scrape is not "true"`);
  if (annotations["prometheus.io/port"] !== String(view.metricsPort)) {
    problems.push(`${where}: pod annotation prometheus.io/port is ${annotations["prometheus.io/port"] ?? "unset"}, but metrics are served on ${view.metricsPort}`);
  }
  return problems;
}

function mountProblems(where: string, app: string, workload: Workload, container: Container, env: Record<string, string>): string[] {
  const problems: string[] = [];
  for (const variable of ["TLS_CERT_FILE", "TLS_KEY_FILE", "TLS_CA_FILE", "AUTH_JWKS_FILE"]) {
    const path = env[variable];
    if (path === undefined) continue;
    const file = mountedFile(workload, container, path);
    if (file === undefined) problems.push(`${where}: ${variable}=${path}, but no volume mount provides that file`);
    else if ((variable === "TLS_CERT_FILE" || variable === "TLS_KEY_FILE") && (file.source !== "secret" || file.name !== `${app}-tls`)) {
      problems.push(`${where}: ${variable} comes from ${file.source} ${file.name}; it must be Secret ${app}-tls (each service shows its own certificate)`);
    }
  }
  if (env.TLS_CERT_FILE === undefined) problems.push(`${where}: no TLS_CERT_FILE, so it speaks plaintext on the pod network`);
  return problems;
}

function migrationProblems(where: string, workload: Workload, spec: K8sApp, sources: Environment["sources"], readSource: AppContext["readSource"]): string[] {
  const init = workload.initContainers.find((c) => c.name === "migrate");
  if (init === undefined) return [`${where}: no init container "migrate", so migrations run inside the serving container's start`];
  const problems: string[] = [];
  const script = init.command[0] === "node" && init.command.includes("-e") ? (init.command[init.command.indexOf("-e") + 1] ?? "") : "";
  const compiled = `/app/${spec.migrations.module.replace(/^services\//, "dist/services/").replace(/\.ts$/, ".js")}`;
  const database = [...sources.entries()].find(([name]) => name.endsWith("_DATABASE_URL"));
  if (!script.includes(`import("${compiled}")`) || !script.includes(`${spec.migrations.exportName}(process.env.${database?.[0] ?? "?"}`)) {
    problems.push(`${where}: init container migrate must run ${spec.migrations.exportName}(process.env.${database?.[0] ?? "<database variable>"}, ...) from ${compiled}`);
  }
  const source = spec.migrations.module;
  const text = readSource(source);
  if (text === undefined) problems.push(`${where}: ${source} does not exist`);
  else if (!new RegExp(`export (async )?function ${spec.migrations.exportName}\\(`).test(text)) {
    problems.push(`${where}: ${source} exports no function ${spec.migrations.exportName}`);
  }
  if (database !== undefined) {
    const initSource = envSources([], init).sources.get(database[0]);
    if (JSON.stringify(initSource) !== JSON.stringify(database[1])) problems.push(`${where}: init container migrate takes ${database[0]} from elsewhere than the service does`);
  }
  for (const [name] of envSources([], init).sources) {
    if (!sources.has(name)) problems.push(`${where}: init container migrate sets ${name}, which the service does not have`);
  }
  return problems;
}

function databaseProblems(where: string, manifests: readonly Manifest[], source: EnvSource | undefined, variable: string): { problems: string[]; cluster?: string } {
  if (source === undefined || !("secret" in source)) return { problems: [`${where}: ${variable} must come from a Secret (it holds the password)`] };
  const cluster = source.secret.endsWith("-app") ? find(manifests, "Cluster", source.secret.slice(0, -"-app".length)) : undefined;
  if (cluster === undefined) return { problems: [`${where}: ${variable} comes from Secret ${source.secret}, which is no CloudNativePG cluster's <cluster>-app Secret`] };
  if (source.key !== "uri") return { problems: [`${where}: ${variable} takes key ${source.key} of ${source.secret}; the connection URL is key uri`], cluster: cluster.metadata.name };
  return { problems: [], cluster: cluster.metadata.name };
}

function serviceProblems(where: string, manifests: readonly Manifest[], address: { host: string; port: number }, target: LoadedK8sApp, port: number, namespace: string | undefined): string[] {
  const [name = "", ns, ...rest] = address.host.split(".");
  if (ns !== undefined && (ns !== namespace || rest.join(".") !== "svc.cluster.local")) {
    return [`${where}: ${address.host} is not a Service of namespace ${namespace ?? "default"} (<service> or <service>.${namespace ?? "default"}.svc.cluster.local)`];
  }
  const service = find(manifests, "Service", name);
  if (service === undefined) return [`${where}: no Service ${name}`];
  const spec = record(service.spec);
  const problems: string[] = [];
  if (spec.clusterIP !== "None") problems.push(`${where}: Service ${name} is not headless (clusterIP: None), so DNS gives one virtual IP and a gRPC channel sticks to one pod`);
  if (!selects({ matchLabels: spec.selector }, target.workload.podLabels)) problems.push(`${where}: Service ${name} does not select ${target.workload.name}'s pods`);
  const servicePort = (spec.ports as { port: number; targetPort?: number | string }[] | undefined)?.find((p) => p.port === address.port);
  if (servicePort === undefined) problems.push(`${where}: Service ${name} has no port ${address.port}`);
  else if (containerPort(target.workload, servicePort.targetPort ?? servicePort.port) !== port) {
    problems.push(`${where}: Service ${name} port ${address.port} leads to ${String(servicePort.targetPort ?? servicePort.port)}, but ${target.app} serves it on ${port}`);
  }
  if (address.port !== port) problems.push(`${where}: ${target.app} listens on ${port}, not ${address.port}`);
  return problems;
}

function hostPort(url: string): { host: string; port: number } {
  const parsed = new URL(url);
  return { host: parsed.hostname, port: Number(parsed.port || 4222) };
}
