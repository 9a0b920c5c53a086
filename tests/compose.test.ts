import { execFile } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { parse as parseYaml } from "yaml";
import { loadNotifierConfig } from "../services/notifier/config.js";
import { loadOrdersConfig } from "../services/orders/config.js";
import { loadShippingConfig } from "../services/shipping/config.js";
import type { TelemetryConfig } from "../services/platform/telemetry/index.js";
import type { AppDependency, AppLoader } from "./support/compose-app-checks.js";
import { type ComposeContext, composeProblems } from "./support/compose-checks.js";
import { dockerfileProblems } from "./support/compose-dockerfile.js";
import { parseComposeYaml, readCompose } from "./support/compose-model.js";
import type { CustomerLimit } from "./support/compose-ratelimit-checks.js";
import { isPlainObject } from "./support/envoy-json-scalars.js";
import { protoServices } from "./support/envoy-proto-services.js";
import { parseEnvoyYaml, validateEnvoyConfig } from "./support/envoy-validator.js";
import { natsServerPath } from "./setup/system-packages.js";

// docker-compose.yml cannot be run here, so it is checked statically: each service's environment
// goes through that service's own config loader, and every address the loader returns must reach
// a compose service that listens there — the same ports and names envoy.yaml uses.

const repoPath = (path: string) => fileURLToPath(new URL(`../${path}`, import.meta.url));
const composeYaml = readFileSync(repoPath("docker-compose.yml"), "utf8");
const envoyYamlPath = "envoy/envoy.yaml";
const envoy = validateEnvoyConfig(parseEnvoyYaml(readFileSync(repoPath(envoyYamlPath), "utf8")), protoServices(repoPath("proto")));
const ratelimitConfigPath = "envoy/ratelimit/config.yaml";
const ratelimitYaml = readFileSync(repoPath(ratelimitConfigPath), "utf8");
const prometheusConfigPath = "deploy/prometheus/prometheus.yml";
const prometheusConfig: unknown = parseYaml(readFileSync(repoPath(prometheusConfigPath), "utf8"));

/** The per-customer limit the README's "Gateway" section promises ("N calls/s per customer"). */
function statedCustomerLimit(readme: string): CustomerLimit {
  const gateway = readme.slice(readme.indexOf("## Gateway"), readme.indexOf("\n## ", readme.indexOf("## Gateway") + 1));
  const stated = /(\d+) calls\/s per customer/.exec(gateway);
  if (stated === null) throw new Error('README "Gateway" states no "<n> calls/s per customer"');
  return { unit: "second", requestsPerUnit: Number(stated[1]) };
}

// The TLS files exist only inside the containers (the identity service writes them); the loaders read
// these stand-ins, and compose-tls-checks.ts checks the paths themselves.
const containerFile = (path: string) => Buffer.from(path.endsWith(".key") ? "-----BEGIN PRIVATE KEY-----\n" : "-----BEGIN CERTIFICATE-----\n");

/** The OTLP endpoint an app exports to, as a dependency that must reach Jaeger's OTLP/HTTP port. */
function tracesDependency(telemetry: TelemetryConfig): AppDependency[] {
  return telemetry.enabled ? [{ variable: "OTEL_EXPORTER_OTLP_ENDPOINT", kind: "otlp", target: telemetry.url }] : [];
}

/** Each server of NATS_URL (a cluster's nodes, comma-separated) as a dependency of its own. */
function natsDependencies(natsUrl: string): AppDependency[] {
  return natsUrl.split(",").map((server) => ({ variable: "NATS_URL", kind: "nats", target: server.trim() }));
}

// The real loaders from services/*/config.ts, reduced to what the checks compare.
const loaders: Record<string, AppLoader> = {
  orders: (env) => {
    const config = loadOrdersConfig(env, containerFile);
    return {
      bindHost: config.bindHost,
      grpcPort: config.grpcPort,
      metricsPort: config.metricsPort,
      tracesUrl: config.telemetry.enabled ? config.telemetry.url : undefined,
      streamReplicas: config.streamLimits.replicas ?? 1,
      dependencies: [
        ...tracesDependency(config.telemetry),
        { variable: "ORDERS_DATABASE_URL", kind: "postgres", target: config.databaseUrl },
        ...natsDependencies(config.natsUrl),
        { variable: "SHIPPING_ADDR", kind: "grpc", target: config.shippingAddr },
      ],
    };
  },
  shipping: (env) => {
    const config = loadShippingConfig(env, containerFile);
    return {
      bindHost: config.bindHost,
      grpcPort: config.grpcPort,
      metricsPort: config.metricsPort,
      tracesUrl: config.telemetry.enabled ? config.telemetry.url : undefined,
      streamReplicas: config.streamLimits.replicas ?? 1,
      dependencies: [
        ...tracesDependency(config.telemetry),
        { variable: "SHIPPING_DATABASE_URL", kind: "postgres", target: config.databaseUrl },
        ...natsDependencies(config.natsUrl),
      ],
    };
  },
  notifier: (env) => {
    const config = loadNotifierConfig(env, containerFile);
    if (config.smtpUrl === undefined) throw new Error("SMTP_URL is unset, so emails would go to files inside the container instead of Mailpit");
    return {
      bindHost: config.bindHost,
      grpcPort: config.grpcPort,
      metricsPort: config.metricsPort,
      tracesUrl: config.telemetry.enabled ? config.telemetry.url : undefined,
      streamReplicas: config.streamLimits.replicas ?? 1,
      dependencies: [
        ...tracesDependency(config.telemetry),
        { variable: "NOTIFIER_DATABASE_URL", kind: "postgres", target: config.databaseUrl },
        ...natsDependencies(config.natsUrl),
        { variable: "SMTP_URL", kind: "smtp", target: config.smtpUrl },
      ],
    };
  },
};

const context: ComposeContext = {
  loaders,
  envoyBootstrap: envoy.bootstrap,
  envoyYamlPath,
  readFile: (hostPath) => readFileSync(repoPath(hostPath), "utf8"),
  readInitScripts: (hostDir) =>
    readdirSync(repoPath(hostDir))
      .filter((file) => file.endsWith(".sql"))
      .map((file) => readFileSync(join(repoPath(hostDir), file), "utf8")),
  ratelimit: { configPath: ratelimitConfigPath, config: parseYaml(ratelimitYaml), statedLimit: statedCustomerLimit(readFileSync(repoPath("README.md"), "utf8")) },
  prometheus: { configPath: prometheusConfigPath, config: prometheusConfig },
};

/** Problems of docker-compose.yml with envoy/ratelimit/config.yaml (or the README's limit) replaced. */
function problemsWithRatelimit(ratelimit: Partial<ComposeContext["ratelimit"]>): string[] {
  return composeProblems(readCompose(parseComposeYaml(composeYaml)), { ...context, ratelimit: { ...context.ratelimit, ...ratelimit } });
}

/** Problems of docker-compose.yml with one piece of text replaced (which must exist). */
function problemsWithText(from: string, to: string): string[] {
  expect(composeYaml).toContain(from);
  return composeProblems(readCompose(parseComposeYaml(composeYaml.replace(from, to))), context);
}

/** Problems of docker-compose.yml after editing its parsed form. */
function problemsWithEdit(edit: (services: Record<string, Record<string, unknown>>) => void): string[] {
  const document: unknown = JSON.parse(JSON.stringify(parseComposeYaml(composeYaml)));
  if (!isPlainObject(document) || !isPlainObject(document.services)) throw new Error("docker-compose.yml has no services");
  edit(document.services as Record<string, Record<string, unknown>>);
  return composeProblems(readCompose(document), context);
}

describe("docker-compose.yml", () => {
  it("agrees with the services' config loaders, the postgres init script and envoy.yaml", () => {
    expect(envoy.problems).toEqual([]);
    const compose = readCompose(parseComposeYaml(composeYaml));
    expect([...compose.services.keys()].sort()).toEqual(["envoy", "identity", "jaeger", "mailpit", "nats-0", "nats-1", "nats-2", "notifier", "orders", "postgres", "prometheus", "ratelimit", "redis", "shipping"]);
    expect(composeProblems(compose, context)).toEqual([]);
  });

  it("runs each app with an environment its own loader accepts, listening on all interfaces", () => {
    const compose = readCompose(parseComposeYaml(composeYaml));
    const env = (name: string) => compose.services.get(name)?.environment ?? {};
    expect(loadOrdersConfig(env("orders"), containerFile)).toMatchObject({ bindHost: "0.0.0.0", grpcPort: 50051, shippingAddr: "shipping:50052" });
    expect(loadShippingConfig(env("shipping"), containerFile)).toMatchObject({ bindHost: "0.0.0.0", grpcPort: 50052, authDisabled: false });
    expect(loadShippingConfig(env("shipping"), containerFile).tls.identity).toBeDefined();
    expect(loadNotifierConfig(env("notifier"), containerFile)).toMatchObject({ bindHost: "0.0.0.0", grpcPort: 50053, smtpUrl: "smtp://mailpit:1025" });
  });
});

describe("compose check rejects a broken copy", () => {
  it("when an app's environment fails its config loader", () => {
    expect(problemsWithText('ORDERS_PORT: "50051"', 'ORDERS_PORT: "500510"')).toContain(
      'orders: its config loader rejects the environment: ORDERS_PORT must be a TCP port between 0 and 65535, got "500510"',
    );
  });

  it("when an app listens on another port than envoy.yaml and its healthcheck expect", () => {
    const problems = problemsWithText('SHIPPING_PORT: "50052"', 'SHIPPING_PORT: "50062"');
    expect(problems).toContain("shipping: healthcheck probes 127.0.0.1:50052, but the service listens on 50062");
    expect(problems).toContain("orders: SHIPPING_ADDR=shipping:50052: shipping listens on 50062, not 50052");
    expect(problems).toContain("envoy cluster shipping -> shipping:50052: shipping serves gRPC on 50062");
  });

  it("when a database has no init script creating it", () => {
    expect(problemsWithText("@postgres:5432/orders", "@postgres:5432/order")).toContain(
      `orders: ORDERS_DATABASE_URL=postgres://orders:orders@postgres:5432/order: no init script in /docker-entrypoint-initdb.d creates database "order"`,
    );
  });

  it("when two services share one database", () => {
    expect(problemsWithText("notifier:notifier@postgres:5432/notifier", "orders:orders@postgres:5432/orders")).toContain(
      "notifier: NOTIFIER_DATABASE_URL=postgres://orders:orders@postgres:5432/orders: database orders already belongs to orders; each service owns its database",
    );
  });

  it("when an address names a host that is no compose service", () => {
    expect(problemsWithText("NATS_URL: nats://nats-0:4222,", "NATS_URL: nats://localhost:4222,")).toContain(
      'shipping: NATS_URL=nats://localhost:4222 points at host "localhost", which is no compose service',
    );
  });

  it("when a service binds to loopback only", () => {
    expect(problemsWithText("BIND_HOST: 0.0.0.0", "BIND_HOST: 127.0.0.1")).toContain(
      "shipping: BIND_HOST is 127.0.0.1; other containers reach it only on 0.0.0.0",
    );
  });

  it("when depends_on does not wait for health, or a healthcheck is missing", () => {
    const problems = problemsWithEdit((services) => {
      services.orders!.depends_on = ["postgres", "nats-0", "nats-1", "nats-2", "shipping"];
      delete services.mailpit!.healthcheck;
    });
    expect(problems).toContain(
      "orders: depends_on postgres with service_started; use condition: service_healthy so it starts once postgres is ready",
    );
    expect(problems).toContain("mailpit: no healthcheck, so nothing can wait for it to be ready");
  });

  it("when an image is not pinned", () => {
    const problems = problemsWithEdit((services) => {
      services["nats-0"]!.image = "nats:latest";
      services.mailpit!.image = "axllent/mailpit";
    });
    expect(problems).toContain('nats-0: image nats:latest uses the moving tag "latest"');
    expect(problems).toContain("mailpit: image axllent/mailpit has no tag (that means latest)");
  });

  it("when envoy does not get envoy/envoy.yaml or publishes its admin port", () => {
    const problems = problemsWithEdit((services) => {
      services.envoy!.volumes = ["./envoy/other.yaml:/etc/envoy/envoy.yaml:ro"];
      services.envoy!.ports = ["127.0.0.1:8080:8080", "9901:9901"];
    });
    expect(problems).toContain("envoy: must mount ./envoy/envoy.yaml at /etc/envoy/envoy.yaml, the config it starts with");
    expect(problems).toContain("envoy: publishes the admin port 9901; the admin API must stay inside the container");
  });

  it("when a service's metrics port is not scraped, or is off", () => {
    expect(problemsWithText('ORDERS_METRICS_PORT: "9464"', 'ORDERS_METRICS_PORT: "9474"')).toEqual([
      "deploy/prometheus/prometheus.yml: does not scrape the metrics of orders at orders:9474",
      "deploy/prometheus/prometheus.yml: scrape target orders:9464: orders serves metrics on 9474",
    ]);
    expect(problemsWithText('NOTIFIER_METRICS_PORT: "9466"', 'NOTIFIER_METRICS_PORT: "off"')).toContain("notifier: its metrics port is off, so Prometheus cannot scrape it");
    const unscraped = { scrape_configs: [{ job_name: "orders", static_configs: [{ targets: ["orders:9464"] }] }] };
    expect(composeProblems(readCompose(parseComposeYaml(composeYaml)), { ...context, prometheus: { configPath: prometheusConfigPath, config: unscraped } })).toEqual([
      "deploy/prometheus/prometheus.yml: does not scrape the metrics of shipping at shipping:9465",
      "deploy/prometheus/prometheus.yml: does not scrape the metrics of notifier at notifier:9466",
    ]);
  });

  it("when Prometheus is missing or does not load deploy/prometheus", () => {
    expect(problemsWithEdit((services) => void delete services.prometheus)).toContain("no service runs the prom/prometheus image, so no one scrapes the services' /metrics");
    const problems = problemsWithEdit((services) => {
      services.prometheus!.volumes = ["./other:/etc/prometheus:ro"];
      services.prometheus!.command = ["--storage.tsdb.path=/prometheus"];
    });
    expect(problems).toContain("prometheus: must mount ./deploy/prometheus at /etc/prometheus, so it loads deploy/prometheus/prometheus.yml and its rule files");
    expect(problems).toContain("prometheus: must start with --config.file=/etc/prometheus/prometheus.yml");
  });

  it("when Jaeger is missing, an app does not trace, or its endpoint misses Jaeger's OTLP/HTTP port", () => {
    expect(problemsWithEdit((services) => void delete services.jaeger)).toContain("no service runs the jaegertracing/all-in-one image, so no one receives the services' traces");
    expect(problemsWithText('      # Spans over OTLP/HTTP to Jaeger (UI on the host\'s 127.0.0.1:16686).\n      OTEL_EXPORTER_OTLP_ENDPOINT: http://jaeger:4318\n      SHIPPING_DATABASE_URL', "      SHIPPING_DATABASE_URL")).toContain(
      "shipping: tracing is off (no OTEL_EXPORTER_OTLP_ENDPOINT, or OTEL_SDK_DISABLED=true), so its spans reach no trace UI",
    );
    expect(problemsWithText("OTEL_EXPORTER_OTLP_ENDPOINT: http://jaeger:4318\n      ORDERS_DATABASE_URL", "OTEL_EXPORTER_OTLP_ENDPOINT: http://jaeger:4317\n      ORDERS_DATABASE_URL")).toContain(
      "orders: OTEL_EXPORTER_OTLP_ENDPOINT=http://jaeger:4317/v1/traces: jaeger listens on 4318, not 4317",
    );
  });

  it("when JetStream has no volume", () => {
    const problems = problemsWithEdit((services) => {
      services["nats-1"]!.volumes = ["./docker/nats/cluster.conf:/etc/nats/cluster.conf:ro"];
    });
    expect(problems).toContain("nats-1: JetStream store /data is not on a volume");
  });

  it("when the NATS cluster loses a node from its routes or an app's NATS_URL, a node its name, writes their sync, or streams their copies", () => {
    const config = readFileSync(repoPath("docker/nats/cluster.conf"), "utf8");
    const withConfig = (edited: string) => composeProblems(readCompose(parseComposeYaml(composeYaml)), { ...context, readFile: (path) => (path === "docker/nats/cluster.conf" ? edited : context.readFile(path)) });
    expect(withConfig(config.replace("    nats://nats-2:6222\n", ""))).toContain("nats-0: docker/nats/cluster.conf's cluster routes do not include nats-2");
    expect(withConfig(config.replace("sync_interval: always", "sync_interval: 2m"))).toContain(
      "nats-1: docker/nats/cluster.conf does not sync every write (sync_interval: always), so an OS crash can lose acknowledged events",
    );
    expect(problemsWithText("NATS_URL: nats://nats-0:4222,nats://nats-1:4222,nats://nats-2:4222\n      STREAM_REPLICAS: \"3\"\n      LOG_LEVEL", "NATS_URL: nats://nats-0:4222\n      STREAM_REPLICAS: \"1\"\n      LOG_LEVEL")).toEqual(
      expect.arrayContaining([expect.stringMatching(/NATS_URL does not list nats-1/), expect.stringMatching(/STREAM_REPLICAS is 1 on a 3-node cluster/)]),
    );
    const renamed = problemsWithEdit((services) => {
      services["nats-2"]!.environment = { SERVER_NAME: "nats-1" };
    });
    expect(renamed).toContain("nats-1: server_name nats-1 is not unique in the cluster");
  });

  it("is a NATS configuration nats-server accepts (the local 2.9 server, without the one 2.10 setting it lacks)", async () => {
    const dir = await mkdtemp(join(tmpdir(), "ordermesh-nats-conf-"));
    try {
      const config = readFileSync(repoPath("docker/nats/cluster.conf"), "utf8");
      // nats-server 2.9 (Debian's) predates sync_interval; the compose image (2.10) has it.
      await writeFile(join(dir, "cluster.conf"), config.replace(/^\s*sync_interval:.*$/m, ""));
      const { stdout, stderr } = await promisify(execFile)(natsServerPath, ["-t", "-c", join(dir, "cluster.conf")], { env: { ...process.env, SERVER_NAME: "nats-0" } });
      expect(`${stdout}${stderr}`).toContain("is valid");
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe("compose TLS check (issue #10) rejects a broken copy", () => {
  it("when a service has no TLS files, so it speaks plaintext on the compose network", () => {
    const problems = problemsWithText("      TLS_CERT_FILE: /etc/ordermesh/identity/notifier.crt\n      TLS_KEY_FILE: /etc/ordermesh/identity/notifier.key\n", "");
    expect(problems).toContain("notifier: no TLS_CERT_FILE, so it speaks plaintext on the compose network");
  });

  it("when shipping is given orders' certificate (it would then pass as orders)", () => {
    expect(problemsWithText("TLS_CERT_FILE: /etc/ordermesh/identity/shipping.crt", "TLS_CERT_FILE: /etc/ordermesh/identity/orders.crt")).toContain(
      "shipping: TLS_CERT_FILE is /etc/ordermesh/identity/orders.crt; it must be /etc/ordermesh/identity/shipping.crt (each service shows its own certificate)",
    );
  });

  it("when a service may start before the identity service made its certificate", () => {
    const problems = problemsWithEdit((services) => {
      delete (services.orders!.depends_on as Record<string, unknown>).identity;
      (services.shipping!.depends_on as Record<string, unknown>).identity = { condition: "service_started" };
    });
    expect(problems).toContain("orders: does not depend_on identity, so it may start before its certificate exists");
    expect(problems).toContain("shipping: depends_on identity with service_started; identity is one-shot, use condition: service_completed_successfully");
  });

  it("when Envoy and the services disagree on the JWT issuer", () => {
    const problems = problemsWithEdit((services) => {
      (services.shipping!.environment as Record<string, string>).AUTH_ISSUER = "https://other.example";
    });
    expect(problems).toContain("shipping: AUTH_ISSUER is https://other.example, envoy's jwt_authn issuer ordermesh-dev");
  });

  it("when Envoy does not mount the identity volume", () => {
    const problems = problemsWithEdit((services) => {
      services.envoy!.volumes = ["./envoy/envoy.yaml:/etc/envoy/envoy.yaml:ro"];
    });
    expect(problems).toContain("envoy: does not mount volume identity at /etc/ordermesh/identity (the CA and JWKS envoy.yaml reads)");
  });
});

describe("compose rate limit check (issue #10) rejects a broken copy", () => {
  const bootstrapWith = (from: string, to: string) => {
    const source = readFileSync(repoPath(envoyYamlPath), "utf8");
    expect(source).toContain(from);
    return validateEnvoyConfig(parseEnvoyYaml(source.replace(from, to)), protoServices(repoPath("proto"))).bootstrap;
  };
  const withBootstrap = (envoyBootstrap: Record<string, unknown>) =>
    composeProblems(readCompose(parseComposeYaml(composeYaml)), { ...context, envoyBootstrap });

  it("when the config file has no customer descriptor, or one with a fixed value", () => {
    const withoutCustomer = problemsWithRatelimit({ config: parseYaml(ratelimitYaml.replace("key: customer", "key: client")) });
    expect(withoutCustomer).toContain(
      "envoy/ratelimit/config.yaml: no descriptor with key customer and no value, so customers are not limited (the service allows any descriptor it has no limit for)",
    );
    const oneCustomer = problemsWithRatelimit({ config: parseYaml(ratelimitYaml.replace("key: customer\n", "key: customer\n    value: c-42\n")) });
    expect(oneCustomer).toContainEqual(expect.stringMatching(/no descriptor with key customer and no value/));
  });

  it("when the config file's domain is not the filter's", () => {
    expect(problemsWithRatelimit({ config: parseYaml(ratelimitYaml.replace("domain: ordermesh", "domain: orders")) })).toContain(
      "envoy/ratelimit/config.yaml: domain is orders, but envoy.yaml's envoy.filters.http.ratelimit asks about domain ordermesh",
    );
    expect(withBootstrap(bootstrapWith("domain: ordermesh", "domain: gateway"))).toContain(
      "envoy/ratelimit/config.yaml: domain is ordermesh, but envoy.yaml's envoy.filters.http.ratelimit asks about domain gateway",
    );
  });

  it("when the config file's limit is not the one the README states", () => {
    expect(problemsWithRatelimit({ config: parseYaml(ratelimitYaml.replace("requests_per_unit: 20", "requests_per_unit: 200")) })).toContain(
      "envoy/ratelimit/config.yaml: customer limit is 200 per second, but the README states 20 per second",
    );
    expect(problemsWithRatelimit({ statedLimit: { unit: "second", requestsPerUnit: 10 } })).toContainEqual(expect.stringMatching(/but the README states 10 per second/));
    expect(() => statedCustomerLimit("## Gateway\n20 calls/s per connection\n## Tests\n")).toThrow(/states no/);
  });

  it("when the ratelimit cluster does not point at the compose service and its GRPC_PORT", () => {
    expect(problemsWithText('GRPC_PORT: "8081"', 'GRPC_PORT: "8091"')).toContain("envoy cluster ratelimit -> ratelimit:8081: ratelimit serves gRPC on 8091 (GRPC_PORT)");
    const otherHost = withBootstrap(bootstrapWith("address: ratelimit, port_value: 8081", "address: limiter, port_value: 8081"));
    expect(otherHost).toContain("envoy cluster ratelimit -> limiter:8081: the rate limit service is compose service ratelimit");
    // A cluster reaching a host that is no rate limit service is again an unknown upstream for the app checks.
    expect(otherHost).toContain("envoy cluster ratelimit -> limiter:8081: limiter is no ordermesh service in docker-compose.yml");
  });

  it("when ratelimit is missing, or reaches no Redis", () => {
    const missing = problemsWithEdit((services) => {
      delete services.ratelimit;
      delete (services.envoy!.depends_on as Record<string, unknown>).ratelimit;
    });
    expect(missing).toContain("no service runs the envoyproxy/ratelimit image, but envoy.yaml's envoy.filters.http.ratelimit asks one");
    expect(problemsWithText("REDIS_URL: redis:6379", "REDIS_URL: localhost:6379")).toContain(
      'ratelimit: REDIS_URL=localhost:6379 points at host "localhost", which is no compose service',
    );
    expect(problemsWithText("REDIS_SOCKET_TYPE: tcp", "REDIS_SOCKET_TYPE: unix")).toContainEqual(expect.stringMatching(/^ratelimit: REDIS_SOCKET_TYPE is unix, must be tcp/));
  });

  it("when ratelimit or redis has no healthcheck, or is not waited for", () => {
    const problems = problemsWithEdit((services) => {
      delete services.redis!.healthcheck;
      delete services.ratelimit!.healthcheck;
      delete (services.envoy!.depends_on as Record<string, unknown>).ratelimit;
      services.ratelimit!.depends_on = { identity: { condition: "service_completed_successfully" }, redis: { condition: "service_started" } };
    });
    expect(problems).toContain("redis: no healthcheck, so nothing can wait for it to be ready");
    expect(problems).toContain("ratelimit: no healthcheck, so nothing can wait for it to be ready");
    expect(problems).toContain("ratelimit: depends_on redis with service_started; use condition: service_healthy so it starts once redis is ready");
    expect(problems).toContain("envoy: does not depend_on ratelimit, so the first calls go unlimited");
  });

  it("when the config folder is not mounted where the service reads it", () => {
    expect(problemsWithText("./envoy/ratelimit:/data/ratelimit/config:ro", "./envoy/ratelimit:/data/config:ro")).toContain(
      "ratelimit: must mount ./envoy/ratelimit at /data/ratelimit/config (RUNTIME_ROOT/RUNTIME_SUBDIRECTORY/config), where it reads envoy/ratelimit/config.yaml",
    );
  });

  it("when its gRPC port is plaintext or shows another service's certificate", () => {
    expect(problemsWithText('GRPC_SERVER_USE_TLS: "true"', 'GRPC_SERVER_USE_TLS: "false"')).toContain(
      "ratelimit: GRPC_SERVER_USE_TLS is not true, but envoy.yaml reaches it over TLS",
    );
    expect(problemsWithText('"notifier", "ratelimit"]', '"notifier"]')).toContain("identity: makes no certificate for ratelimit");
  });
});

describe("Dockerfile", () => {
  const dockerfile = readFileSync(repoPath("Dockerfile"), "utf8");

  it("builds once in a build stage and runs production dependencies as a non-root user", () => {
    expect(dockerfileProblems(dockerfile)).toEqual([]);
  });

  it("is rejected when single-stage and running as root", () => {
    const problems = dockerfileProblems("FROM node:20.19.5-bookworm-slim\nWORKDIR /app\nCOPY . .\nRUN npm ci && npm run build\nCMD [\"node\", \"dist/services/orders/main.js\"]\n");
    expect(problems).toContain("Dockerfile: not multi-stage; build tools and dev dependencies would ship in the image");
    expect(problems).toContain("Dockerfile: the runtime stage runs as root; add USER with an unprivileged user");
    expect(problems).toContain("Dockerfile: no stage installs production dependencies only (npm ci --omit=dev)");
  });
});
