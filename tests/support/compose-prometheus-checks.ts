import type { LoadedApp } from "./compose-app-checks.js";
import type { ComposeFile, ComposeService } from "./compose-model.js";
import { hostPathMountedAt, serviceByImage } from "./compose-service-checks.js";

// Prometheus in compose: it loads deploy/prometheus/ (prometheus.yml and its alert rules), and every
// app's metrics port (its *_METRICS_PORT as its own loader reads it) is one of its scrape targets.

/** The image repository of Prometheus. */
export const prometheusRepository = "prom/prometheus";

/** The scrape config Prometheus loads in compose, with its path relative to the compose file. */
export interface PrometheusContext {
  /** e.g. deploy/prometheus/prometheus.yml */
  configPath: string;
  /** The parsed prometheus.yml. */
  config: unknown;
}

const configInContainer = "/etc/prometheus/prometheus.yml";

/** Problems of the prometheus service, its config file, and the apps' metrics ports it must scrape. */
export function prometheusComposeProblems(compose: ComposeFile, apps: readonly LoadedApp[], context: PrometheusContext): string[] {
  const service = serviceByImage(compose, prometheusRepository);
  if (service === undefined) return [`no service runs the ${prometheusRepository} image, so no one scrapes the services' /metrics`];
  const problems = mountProblems(service, context.configPath);
  const targets = scrapeTargets(context.config);
  for (const { service: app, view } of apps) {
    if (view.metricsPort === undefined) {
      problems.push(`${app.name}: its metrics port is off, so Prometheus cannot scrape it`);
      continue;
    }
    const target = `${app.name}:${view.metricsPort}`;
    if (!targets.has(target)) problems.push(`${context.configPath}: does not scrape the metrics of ${app.name} at ${target}`);
  }
  for (const target of targets) {
    const host = target.slice(0, target.lastIndexOf(":"));
    const port = Number(target.slice(target.lastIndexOf(":") + 1));
    const app = apps.find((a) => a.service.name === host);
    if (app === undefined) problems.push(`${context.configPath}: scrape target ${target} is no app service of compose`);
    else if (app.view.metricsPort !== port) problems.push(`${context.configPath}: scrape target ${target}: ${host} serves metrics on ${app.view.metricsPort ?? "no port"}`);
  }
  return problems;
}

function mountProblems(service: ComposeService, configPath: string): string[] {
  const problems: string[] = [];
  const dir = configPath.slice(0, configPath.lastIndexOf("/"));
  // The whole directory, so the rule files prometheus.yml names (alerts.yml) come along.
  const mounted = hostPathMountedAt(service, configInContainer.slice(0, configInContainer.lastIndexOf("/")));
  if (mounted !== dir) problems.push(`${service.name}: must mount ./${dir} at /etc/prometheus, so it loads ${configPath} and its rule files`);
  if (!service.command.includes(`--config.file=${configInContainer}`)) problems.push(`${service.name}: must start with --config.file=${configInContainer}`);
  return problems;
}

/** Every static_configs target of every scrape job, as "host:port". */
function scrapeTargets(config: unknown): Set<string> {
  const jobs = (config as { scrape_configs?: Array<{ static_configs?: Array<{ targets?: unknown }> }> })?.scrape_configs ?? [];
  const targets = new Set<string>();
  for (const job of jobs) for (const group of job.static_configs ?? []) for (const target of Array.isArray(group.targets) ? group.targets : []) targets.add(String(target));
  return targets;
}
