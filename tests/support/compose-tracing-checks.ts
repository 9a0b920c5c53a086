import type { LoadedApp } from "./compose-app-checks.js";
import type { ComposeFile } from "./compose-model.js";
import { serviceByImage } from "./compose-service-checks.js";

// Traces in compose: Jaeger all-in-one receives OTLP/HTTP, and every app exports to it (its telemetry
// config, as its own loader reads it, is on). That the URL reaches Jaeger's port is the dependency
// check of compose-app-checks.ts (kind "otlp").

/** The image repository of Jaeger all-in-one. */
export const jaegerRepository = "jaegertracing/all-in-one";

/** Problems of the trace UI and of apps whose spans would go nowhere. */
export function tracingComposeProblems(compose: ComposeFile, apps: readonly LoadedApp[]): string[] {
  const problems: string[] = [];
  if (serviceByImage(compose, jaegerRepository) === undefined) problems.push(`no service runs the ${jaegerRepository} image, so no one receives the services' traces`);
  for (const { service, view } of apps) {
    if (view.tracesUrl === undefined) problems.push(`${service.name}: tracing is off (no OTEL_EXPORTER_OTLP_ENDPOINT, or OTEL_SDK_DISABLED=true), so its spans reach no trace UI`);
  }
  return problems;
}
