import { readFileSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { parse as parseYaml } from "yaml";
import { loadNotifierConfig } from "../services/notifier/config.js";
import { loadOrdersConfig } from "../services/orders/config.js";
import { loadShippingConfig } from "../services/shipping/config.js";
import { protoServices } from "./support/envoy-proto-services.js";
import { parseEnvoyYaml, validateEnvoyConfig } from "./support/envoy-validator.js";
import type { K8sApp } from "./support/k8s-app-checks.js";
import { k8sProblems, type K8sContext } from "./support/k8s-checks.js";
import { k8sEnvoyConfig } from "./support/k8s-envoy-config.js";
import { configMapHash, manifestsToYaml, renderKustomization, type Manifest } from "./support/k8s-kustomize.js";
import { find, record, workloads, type Container } from "./support/k8s-model.js";
import { natsAddress, natsValuesProblems } from "./support/k8s-nats-checks.js";

// deploy/k8s cannot be applied here (no cluster, no kustomize binary), so it is checked statically:
// rendered by tests/support/k8s-kustomize.ts, every object validated against its OpenAPI schema with
// unknown fields refused, each service's Deployment run through its own config loader and cross-checked
// with its ports, probes, drain, mounts, Services, database cluster, the gateway's clusters and the
// NetworkPolicies. Every check is shown to fail on a broken copy. K8S_WRITE=1 rewrites the generated files.

const repoPath = (path: string) => fileURLToPath(new URL(`../${path}`, import.meta.url));
const read = (path: string) => readFileSync(repoPath(path), "utf8");
const namespace = "ordermesh";

const generatedEnvoy = k8sEnvoyConfig(read("envoy/envoy.yaml"), namespace);
const generatedFiles: Record<string, () => string> = {
  "deploy/k8s/base/gateway/envoy.yaml": () => generatedEnvoy,
  "deploy/k8s/base/gateway/ratelimit-config.yaml": () => read("envoy/ratelimit/config.yaml"),
  "deploy/k8s/rendered/local.yaml": () => renderedHeader + manifestsToYaml(renderKustomization(repoPath("deploy/k8s/overlays/local"))),
};
const renderedHeader = "# GENERATED: deploy/k8s/overlays/local rendered by tests/support/k8s-kustomize.ts (K8S_WRITE=1 npx vitest run tests/k8s-manifests.test.ts).\n";
if (process.env.K8S_WRITE === "1") for (const [path, make] of Object.entries(generatedFiles)) writeFileSync(repoPath(path), make());

const services = protoServices(repoPath("proto"));
const envoy = validateEnvoyConfig(parseEnvoyYaml(generatedEnvoy), services);
const natsValues: unknown = parseYaml(read("deploy/k8s/nats/values.yaml"));
const readme = read("README.md");
const release = /helm install (\S+) nats\/nats .*-f deploy\/k8s\/nats\/values\.yaml/.exec(readme)?.[1];
const packageVersion = (JSON.parse(read("package.json")) as { version: string }).version;

// The TLS files exist only in the pods' Secrets; the loaders read these stand-ins, and the checks look at the mounts.
const podFile = (path: string) => Buffer.from(path.endsWith(".key") ? "-----BEGIN PRIVATE KEY-----\n" : "-----BEGIN CERTIFICATE-----\n");
// Time a stopping process spends after its servers: consumers finish their batch in flight (dispatch's
// calls to shipping are bounded by their deadlines), the pools close (sql.end waits up to 5 s).
const drainMs = 15_000;

/** What every service's config says that the checks compare (the loaders share these fields). */
function commonView(config: ReturnType<typeof loadShippingConfig> | ReturnType<typeof loadOrdersConfig> | ReturnType<typeof loadNotifierConfig>) {
  return {
    bindHost: config.bindHost,
    grpcPort: config.grpcPort,
    metricsPort: config.metricsPort,
    healthPort: config.healthPort,
    tls: config.tls.identity !== undefined,
    shutdownGraceMs: config.limits.shutdownGraceMs,
    natsUrl: config.natsUrl,
  };
}

const apps: Record<string, K8sApp> = {
  orders: {
    entry: "dist/services/orders/main.js",
    migrations: { module: "services/orders/db/open-database.ts", exportName: "openOrdersDatabase" },
    load(env) {
      const config = loadOrdersConfig(env, podFile);
      return {
        ...commonView(config),
        webPort: config.webPort,
        drainMs,
        database: { variable: "ORDERS_DATABASE_URL", url: config.databaseUrl },
        grpcDependencies: [{ variable: "SHIPPING_ADDR", target: config.shippingAddr, app: "shipping" }],
      };
    },
  },
  shipping: {
    entry: "dist/services/shipping/main.js",
    migrations: { module: "services/shipping/db/open-database.ts", exportName: "openShippingDatabase" },
    load(env) {
      const config = loadShippingConfig(env, podFile);
      return {
        ...commonView(config),
        webPort: config.webPort,
        drainMs,
        database: { variable: "SHIPPING_DATABASE_URL", url: config.databaseUrl },
        grpcDependencies: [],
      };
    },
  },
  notifier: {
    entry: "dist/services/notifier/main.js",
    migrations: { module: "services/notifier/db/open-database.ts", exportName: "openNotifierDatabase" },
    load(env) {
      const config = loadNotifierConfig(env, podFile);
      if (config.smtpUrl === undefined) throw new Error("SMTP_URL is unset, so emails would go to files inside the pod");
      return {
        ...commonView(config),
        webPort: undefined,
        // The emails of the batches in flight go out before the consumer stops.
        drainMs: drainMs + config.sendTimeoutMs,
        database: { variable: "NOTIFIER_DATABASE_URL", url: config.databaseUrl },
        grpcDependencies: [],
      };
    },
  },
};

const context: K8sContext = {
  apps,
  image: `ordermesh:${packageVersion}`,
  // platform/process/logger.ts reads it, every process has it.
  processWideVariables: ["LOG_LEVEL"],
  standIns: {
    "orders-page-token/PAGE_TOKEN_KEY": Buffer.alloc(32, 7).toString("base64"),
    "notifier-smtp/SMTP_URL": "smtp://smtp.example.com:587",
  },
  nats: natsAddress(natsValues, release ?? "?"),
  readSource: (path) => {
    try {
      return read(path);
    } catch {
      return undefined;
    }
  },
  envoy: { text: generatedEnvoy, bootstrap: envoy.bootstrap },
};

const local = () => renderKustomization(repoPath("deploy/k8s/overlays/local"));

/** Problems of the local rendering after editing a copy of it. */
function problemsWith(edit: (manifests: Manifest[]) => void, extra: Partial<K8sContext> = {}): string[] {
  const manifests = local();
  edit(manifests);
  return k8sProblems(manifests, { ...context, ...extra });
}

/** The object of a kind and name in the rendering (throws when missing). */
function get(manifests: Manifest[], kind: string, name: string): Manifest {
  const found = find(manifests, kind, name);
  if (found === undefined) throw new Error(`no ${kind}/${name}`);
  return found;
}

/** The first container of a Deployment in the rendering. */
function containerOf(manifests: Manifest[], name: string): Container & Record<string, unknown> {
  const workload = workloads(manifests).find((candidate) => candidate.name === name);
  if (workload === undefined) throw new Error(`no Deployment ${name}`);
  return (record(workload.manifest.spec).template as { spec: { containers: (Container & Record<string, unknown>)[] } }).spec.containers[0]!;
}

const podSpec = (manifests: Manifest[], name: string) => (record(get(manifests, "Deployment", name).spec).template as { spec: Record<string, unknown> }).spec;
const configData = (manifests: Manifest[], name: string) => get(manifests, "ConfigMap", name).data as Record<string, string>;

describe("deploy/k8s", () => {
  it("has its generated files up to date (K8S_WRITE=1 npx vitest run tests/k8s-manifests.test.ts rewrites them)", () => {
    for (const [path, make] of Object.entries(generatedFiles)) expect(read(path), `${path} is stale`).toBe(make());
  });

  it("runs a gateway config that Envoy's protos accept, with shipping health-checked by TCP on its web port", () => {
    // What envoy/envoy.yaml itself lacks is tests/envoy-config.test.ts's to report; the one intended
    // difference here: shipping's web port serves ShippingService but not grpc.health.v1 (see
    // tests/support/k8s-envoy-config.ts), and the readiness-filtered DNS answers cover its health.
    const source = validateEnvoyConfig(parseEnvoyYaml(read("envoy/envoy.yaml")), services).problems;
    expect(envoy.problems.filter((problem) => !source.includes(problem))).toEqual(["clusters[shipping]: no active health check with grpc_health_check (grpc.health.v1)"]);
  });

  it("renders the base and the local overlay into manifests that pass every check", () => {
    expect(release).toBe("nats");
    const base = renderKustomization(repoPath("deploy/k8s/base"));
    // The base leaves the SMTP server to the deployment (a Secret notifier-smtp); the overlay brings Mailpit.
    expect(base.map((m) => `${m.kind}/${m.metadata.name}`)).not.toContain("Secret/notifier-smtp");
    expect(k8sProblems(base, context)).toEqual([]);
    const manifests = local();
    expect(k8sProblems(manifests, context)).toEqual([]);
    expect(workloads(manifests).map((w) => w.name).sort()).toEqual(["gateway", "mailpit", "notifier", "orders", "ratelimit", "redis", "shipping"]);
    expect(new Set(manifests.map((m) => m.metadata.namespace ?? "(cluster)"))).toEqual(new Set(["(cluster)", namespace]));
  });

  it("gives the NATS chart a 3-node JetStream cluster on file storage with fsync on every write", () => {
    expect(natsValuesProblems(natsValues, "values.yaml")).toEqual([]);
    expect(natsAddress(natsValues, "nats")).toEqual({ host: "nats", port: 4222 });
  });

  it("names generated ConfigMaps with kustomize's content hash and points every reference at it", () => {
    // kustomize's documented example (configMapGenerator, examples/configGeneration.md).
    const documented = { apiVersion: "v1", kind: "ConfigMap", metadata: { name: "my-java-server-env-vars" }, data: { JAVA_HOME: "/opt/java/jdk", JAVA_TOOL_OPTIONS: "-agentlib:hprof" } };
    expect(configMapHash(documented)).toBe("44k658k8gk");
    const manifests = local();
    const envoyConfig = manifests.find((m) => m.kind === "ConfigMap" && m.metadata.name.startsWith("envoy-config-"));
    expect(envoyConfig?.metadata.name).toBe(`envoy-config-${configMapHash({ ...envoyConfig!, metadata: { name: "envoy-config" } })}`);
    expect((podSpec(manifests, "gateway").volumes as { configMap?: { name: string } }[])[0]?.configMap?.name).toBe(envoyConfig?.metadata.name);
  });

  it("refuses kustomization fields its renderer does not implement", () => {
    const kustomization = "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources: []\nreplicas:\n  - name: orders\n    count: 3\n";
    expect(() => renderKustomization("/virtual", () => kustomization)).toThrow(/field "replicas" is not in the subset/);
  });
});

describe("k8s checks reject a broken copy", () => {
  it("when a field is misspelled or unknown to the schema", () => {
    const problems = problemsWith((manifests) => {
      const orders = containerOf(manifests, "orders");
      orders.readinesProbe = orders.readinessProbe;
      delete orders.readinessProbe;
      (get(manifests, "Cluster", "orders-db").spec as Record<string, unknown>).instance = 2;
    });
    expect(problems).toContain('Deployment/orders: /spec/template/spec/containers/0/readinesProbe: unknown field "readinesProbe" (not in the apps/v1 Deployment schema)');
    expect(problems).toContain('Cluster/orders-db: /spec/instance: unknown field "instance" (not in the postgresql.cnpg.io/v1 Cluster schema)');
    expect(problems).toContain("orders/orders: no readinessProbe, so it gets traffic before it can serve");
  });

  it("when a value breaks the schema", () => {
    const problems = problemsWith((manifests) => {
      (get(manifests, "HorizontalPodAutoscaler", "orders").spec as Record<string, unknown>).maxReplicas = "six";
    });
    expect(problems).toContainEqual(expect.stringMatching(/^HorizontalPodAutoscaler\/orders: .*maxReplicas.*integer/));
  });

  it("when a service listens on another port than its container, probes, Service and callers expect", () => {
    const problems = problemsWith((manifests) => {
      configData(manifests, "shipping-env").SHIPPING_PORT = "50062";
    });
    expect(problems).toContain("shipping: listens on 50062 (grpc), which is no containerPort");
    expect(problems).toContain("shipping: containerPort 50052 (grpc) is not a port the service listens on");
    expect(problems).toContain("orders: SHIPPING_ADDR=dns:///shipping:50052: Service shipping port 50052 leads to grpc, but shipping serves it on 50062");
    expect(problems).toContain("orders: SHIPPING_ADDR=dns:///shipping:50052: shipping listens on 50062, not 50052");
  });

  it("when an environment variable is misspelled, or the loader refuses a value", () => {
    const problems = problemsWith((manifests) => {
      const data = configData(manifests, "orders-env");
      data.ORDERS_DATABSE_POOL = data.ORDERS_DATABASE_POOL!;
      delete data.ORDERS_DATABASE_POOL;
      configData(manifests, "notifier-env").AUTH_ISSUER = "ordermesh-dev";
    });
    expect(problems).toContain("orders: sets ORDERS_DATABSE_POOL, which orders's config never reads (a typo, or a variable of another service)");
    expect(problems).toContain("notifier: sets AUTH_ISSUER, which notifier's config never reads (a typo, or a variable of another service)");
    expect(problemsWith((manifests) => void (configData(manifests, "orders-env").ORDERS_PORT = "500510"))).toContain(
      'orders: its config loader rejects the environment: ORDERS_PORT must be a TCP port between 0 and 65535, got "500510"',
    );
  });

  it("when a container may run as root or keeps its privileges", () => {
    const problems = problemsWith((manifests) => {
      (podSpec(manifests, "orders").securityContext as Record<string, unknown>).runAsUser = 0;
      const gateway = containerOf(manifests, "gateway");
      gateway.securityContext = { runAsNonRoot: true };
      delete containerOf(manifests, "notifier").resources?.limits;
    });
    expect(problems).toContain("orders/orders: runAsUser is 0; set the image user's uid (not 0), so runAsNonRoot can be verified");
    expect(problems).toContain("orders/migrate: runAsUser is 0; set the image user's uid (not 0), so runAsNonRoot can be verified");
    expect(problems).toContain("gateway/envoy: readOnlyRootFilesystem is not true");
    expect(problems).toContain("gateway/envoy: allowPrivilegeEscalation is not false");
    expect(problems).toContain("gateway/envoy: capabilities.drop does not include ALL");
    expect(problems).toContain("notifier/notifier: no resources.limits.memory");
  });

  it("when a probe is the kubelet's plaintext gRPC probe on a TLS port, liveness asks the dependencies' status, or a probe is no gRPC probe", () => {
    const problems = problemsWith((manifests) => {
      const shipping = containerOf(manifests, "shipping");
      shipping.readinessProbe = { grpc: { port: 50052, service: "" } };
      shipping.livenessProbe = { tcpSocket: { port: 50099 } };
      containerOf(manifests, "orders").livenessProbe = { grpc: { port: 9400 } };
    });
    expect(problems).toContain("shipping: readinessProbe asks grpc.health.v1 on 50052, but the plaintext health port is 9400");
    expect(problems).toContain("shipping: livenessProbe must be the kubelet's native gRPC probe on grpc.health.v1 (grpc: {port, service})");
    expect(problems).toContain("shipping: livenessProbe probes port 50099, which is no containerPort");
    expect(problems).toContain('orders: livenessProbe asks service ""; it must ask "liveness"');
    expect(problemsWith((manifests) => void delete configData(manifests, "notifier-env").HEALTH_PORT)).toContain(
      "notifier: readinessProbe uses the kubelet's gRPC probe, which speaks plaintext, but port 50053 serves TLS (TLS_CERT_FILE) and no HEALTH_PORT is set: it would never pass",
    );
  });

  it("when the health port moves but the probes and the container do not follow", () => {
    const problems = problemsWith((manifests) => void (configData(manifests, "shipping-env").HEALTH_PORT = "9401"));
    expect(problems).toContain("shipping: listens on 9401 (health), which is no containerPort");
    expect(problems).toContain("shipping: readinessProbe asks grpc.health.v1 on 9400, but the plaintext health port is 9401");
  });

  it("when the grace period is shorter than the drain, or there is no preStop", () => {
    expect(problemsWith((manifests) => void (podSpec(manifests, "notifier").terminationGracePeriodSeconds = 30))).toContain(
      "notifier: terminationGracePeriodSeconds 30 is shorter than preStop 5 s + SHUTDOWN_GRACE_MS 10 s + 25 s of drain: the kubelet would SIGKILL calls in flight",
    );
    expect(problemsWith((manifests) => void delete containerOf(manifests, "orders").lifecycle)).toContainEqual(expect.stringMatching(/^orders: no preStop sleep/));
    expect(problemsWith((manifests) => void (configData(manifests, "orders-env").SHUTDOWN_GRACE_MS = "20000"))).toContainEqual(
      expect.stringMatching(/^orders: terminationGracePeriodSeconds 30 is shorter than preStop 5 s \+ SHUTDOWN_GRACE_MS 20 s/),
    );
  });

  it("when a service shows another service's certificate, or a file it reads is not mounted", () => {
    const problems = problemsWith((manifests) => {
      const volumes = podSpec(manifests, "shipping").volumes as { name: string; secret?: { secretName: string } }[];
      volumes.find((volume) => volume.name === "tls")!.secret!.secretName = "orders-tls";
      configData(manifests, "orders-env").AUTH_JWKS_FILE = "/etc/ordermesh/jwks.json";
    });
    expect(problems).toContain("shipping: TLS_CERT_FILE comes from secret orders-tls; it must be Secret shipping-tls (each service shows its own certificate)");
    expect(problems).toContain("orders: AUTH_JWKS_FILE=/etc/ordermesh/jwks.json, but no volume mount provides that file");
  });

  it("when migrations do not run first, or two services share a database cluster", () => {
    const problems = problemsWith((manifests) => {
      delete podSpec(manifests, "notifier").initContainers;
      const env = containerOf(manifests, "shipping").env as { name: string; valueFrom?: { secretKeyRef: { name: string } } }[];
      env.find((entry) => entry.name === "SHIPPING_DATABASE_URL")!.valueFrom!.secretKeyRef.name = "orders-db-app";
    });
    expect(problems).toContain('notifier: no init container "migrate", so migrations run inside the serving container\'s start');
    expect(problems).toContain("shipping: SHIPPING_DATABASE_URL uses CloudNativePG cluster orders-db, which already belongs to orders; each service owns its database");
    expect(problems).toContain("shipping: init container migrate takes SHIPPING_DATABASE_URL from elsewhere than the service does");
  });

  it("when orders dials shipping by a name its certificate lacks, or through a Service that is not headless", () => {
    const problems = problemsWith((manifests) => {
      configData(manifests, "orders-env").SHIPPING_ADDR = "shipping-grpc:50052";
      delete (get(manifests, "Service", "notifier").spec as Record<string, unknown>).clusterIP;
    });
    expect(problems).toContain("orders: SHIPPING_ADDR=shipping-grpc:50052: no Service shipping-grpc");
    expect(problems).toContain("orders: SHIPPING_ADDR=shipping-grpc:50052: dials shipping-grpc, but shipping's certificate names the host shipping; TLS would refuse it");
    expect(problems).toContain("envoy cluster notifier -> notifier.ordermesh.svc.cluster.local:50053: Service notifier is not headless, so Envoy sees one virtual IP instead of the pods");
    const misselected = problemsWith((manifests) => {
      (get(manifests, "Service", "shipping").spec as { selector: Record<string, string> }).selector = { "app.kubernetes.io/name": "shiping" };
    });
    expect(misselected).toContain("orders: SHIPPING_ADDR=dns:///shipping:50052: Service shipping does not select shipping's pods");
    expect(misselected).toContain("envoy cluster shipping -> shipping.ordermesh.svc.cluster.local:8082: Service shipping selects no Deployment's pods");
  });

  it("when an Envoy cluster names a Service or port that is not there", () => {
    const text = generatedEnvoy.replace("address: ratelimit.ordermesh.svc.cluster.local", "address: limiter.ordermesh.svc.cluster.local").replace("port_value: 8082", "port_value: 8083");
    const bootstrap = validateEnvoyConfig(parseEnvoyYaml(text), services).bootstrap;
    const problems = problemsWith(() => {}, { envoy: { text, bootstrap } });
    expect(problems).toContain("envoy cluster ratelimit -> limiter.ordermesh.svc.cluster.local:8081: no Service limiter");
    expect(problems).toContain("envoy cluster shipping -> shipping.ordermesh.svc.cluster.local:8083: Service shipping has no port 8083");
    // The ConfigMap still holds the committed config, not this one.
    expect(problems).toContain("gateway: /etc/envoy/envoy.yaml (ConfigMap " + local().find((m) => m.metadata.name.startsWith("envoy-config-"))!.metadata.name + ") is not the generated gateway config");
  });

  it("when a NetworkPolicy lets the gateway reach shipping's gRPC port, or keeps orders out of it", () => {
    const problems = problemsWith((manifests) => {
      const rules = (get(manifests, "NetworkPolicy", "shipping").spec as { ingress: { from: unknown[]; ports: { port: number }[] }[] }).ingress;
      rules[0]!.from = [{ podSelector: { matchLabels: { "app.kubernetes.io/name": "gateway" } } }];
    });
    expect(problems).toContain("shipping's gRPC port 50052 (only orders): the NetworkPolicies let gateway reach shipping:50052");
    expect(problems).toContain("orders's SHIPPING_ADDR: the NetworkPolicies do not let orders reach shipping:50052");
  });

  it("when a web or metrics port is open to anyone, or a pod is selected by no policy", () => {
    const problems = problemsWith((manifests) => {
      const rules = (get(manifests, "NetworkPolicy", "shipping").spec as { ingress: Record<string, unknown>[] }).ingress;
      delete rules[1]!.from;
      const index = manifests.findIndex((m) => m.kind === "NetworkPolicy" && m.metadata.name === "redis");
      manifests.splice(index, 1);
      (get(manifests, "NetworkPolicy", "orders").spec as { ingress: { from: { podSelector?: unknown }[] }[] }).ingress[1]!.from = [{ podSelector: {} }];
    });
    expect(problems).toContain("shipping's web port 8082 (only gateway): the NetworkPolicies let orders reach shipping:8082");
    expect(problems).toContain("shipping's web port 8082: the NetworkPolicies let a pod of another namespace reach shipping:8082");
    expect(problems).toContain("redis: no NetworkPolicy selects its pods, so anything in the cluster may connect to every port");
    expect(problems).toContain("orders's metrics: the NetworkPolicies do not let Prometheus (namespace monitoring) reach orders:9464");
    expect(problems).toContain("orders's metrics port 9464 (only no pod of the mesh): the NetworkPolicies let shipping reach orders:9464");
  });

  it("when a disruption budget or autoscaler targets nothing, or the Deployment fights its autoscaler", () => {
    const problems = problemsWith((manifests) => {
      (get(manifests, "PodDisruptionBudget", "orders").spec as { selector: unknown }).selector = { matchLabels: { "app.kubernetes.io/name": "order" } };
      (get(manifests, "HorizontalPodAutoscaler", "shipping").spec as { scaleTargetRef: { name: string } }).scaleTargetRef.name = "shiping";
      (get(manifests, "Deployment", "notifier").spec as Record<string, unknown>).replicas = 2;
      (get(manifests, "PodDisruptionBudget", "gateway").spec as Record<string, unknown>) = { minAvailable: 2, selector: { matchLabels: { "app.kubernetes.io/name": "gateway" } } };
    });
    expect(problems).toContain("PodDisruptionBudget/orders: its selector matches no Deployment's pods");
    expect(problems).toContain("HorizontalPodAutoscaler/shipping: scaleTargetRef Deployment/shiping is no Deployment of the manifests");
    expect(problems).toContain("Deployment/notifier: sets replicas although HorizontalPodAutoscaler/notifier owns the count (every apply would reset it)");
    expect(problems).toContain("PodDisruptionBudget/gateway: minAvailable 2 with 2 replicas blocks every node drain");
  });

  it("when a service connects to another NATS than the Helm release, or the values weaken JetStream", () => {
    expect(problemsWith((manifests) => void (configData(manifests, "notifier-env").NATS_URL = "nats://nats-cluster:4222"))).toContain(
      "notifier: NATS_URL=nats://nats-cluster:4222, but the NATS Helm release serves nats://nats:4222",
    );
    const weak = { config: { cluster: { enabled: true, replicas: 1 }, jetstream: { enabled: true, fileStore: { pvc: { enabled: false } } } } };
    expect(natsValuesProblems(weak, "values.yaml")).toEqual([
      "values.yaml: config.cluster.replicas is 1; JetStream needs 3 servers to keep a replicated stream with one down",
      "values.yaml: config.jetstream.fileStore.pvc is disabled; the store would die with the pod",
      'values.yaml: config.jetstream.merge.sync_interval is not "always", so acknowledged writes may sit unsynced for up to two minutes',
    ]);
  });
});
