import { type AppLoader, appProblems, loadApps, type ReadInitScripts } from "./compose-app-checks.js";
import { envoyComposeProblems } from "./compose-envoy-checks.js";
import { infrastructureProblems, natsClusterProblems, type ReadComposeFile } from "./compose-infra-checks.js";
import type { ComposeFile } from "./compose-model.js";
import { ratelimitComposeProblems, type RatelimitContext, ratelimitService } from "./compose-ratelimit-checks.js";
import { prometheusComposeProblems, type PrometheusContext } from "./compose-prometheus-checks.js";
import { imageProblems, startupOrderProblems, volumeProblems } from "./compose-service-checks.js";
import { tlsComposeProblems } from "./compose-tls-checks.js";
import { tracingComposeProblems } from "./compose-tracing-checks.js";
import type { Json } from "./envoy-config-model.js";

/** What docker-compose.yml is checked against. */
export interface ComposeContext {
  /** App name (services/<app>/) -> its real config loader, adapted to an AppView. */
  loaders: Readonly<Record<string, AppLoader>>;
  /** The schema-checked, normalized envoy.yaml. */
  envoyBootstrap: Json;
  /** envoy.yaml's path relative to the compose file. */
  envoyYamlPath: string;
  readInitScripts: ReadInitScripts;
  /** Reads a mounted config file (the NATS nodes'). */
  readFile: ReadComposeFile;
  /** envoyproxy/ratelimit's config file and the per-customer limit the README states. */
  ratelimit: RatelimitContext;
  /** deploy/prometheus/prometheus.yml, which compose's Prometheus loads. */
  prometheus: PrometheusContext;
}

/** Every compose check; no problems means compose, envoy.yaml and the services' config.ts agree. */
export function composeProblems(compose: ComposeFile, context: ComposeContext): string[] {
  const { apps, problems: loadProblems } = loadApps(compose, context.loaders);
  return [
    ...startupOrderProblems(compose),
    ...imageProblems(compose),
    ...volumeProblems(compose),
    ...infrastructureProblems(compose, context.readFile),
    ...loadProblems,
    ...natsClusterProblems(compose, apps),
    ...appProblems(compose, apps, context.readInitScripts),
    // Its cluster is checked against the ratelimit service, not against an app's loader.
    ...envoyComposeProblems(compose, apps, context.envoyBootstrap, context.envoyYamlPath, new Set([ratelimitService(compose)?.name ?? ""])),
    ...ratelimitComposeProblems(compose, context.envoyBootstrap, context.ratelimit),
    ...tlsComposeProblems(compose, apps, context.envoyBootstrap),
    ...prometheusComposeProblems(compose, apps, context.prometheus),
    ...tracingComposeProblems(compose, apps),
  ];
}
