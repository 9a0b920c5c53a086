import type { ComposeFile, ComposeService } from "./compose-model.js";

// Checks that hold for every service regardless of what it runs.

/**
 * Every long-running service has a healthcheck and only waits for healthy dependencies that exist;
 * a one-shot service (restart: "no") is waited for until it completed successfully.
 */
export function startupOrderProblems(compose: ComposeFile): string[] {
  const problems: string[] = [];
  for (const service of compose.services.values()) {
    if (service.healthcheck === undefined && !isOneShot(service)) problems.push(`${service.name}: no healthcheck, so nothing can wait for it to be ready`);
    for (const [target, condition] of Object.entries(service.dependsOn)) {
      const dependency = compose.services.get(target);
      if (dependency === undefined) problems.push(`${service.name}: depends_on "${target}", which is no service`);
      if (dependency !== undefined && isOneShot(dependency)) {
        if (condition !== "service_completed_successfully") {
          problems.push(`${service.name}: depends_on ${target} with ${condition}; ${target} is one-shot, use condition: service_completed_successfully`);
        }
      } else if (condition !== "service_healthy") {
        problems.push(`${service.name}: depends_on ${target} with ${condition}; use condition: service_healthy so it starts once ${target} is ready`);
      }
    }
  }
  return problems;
}

/** A service that runs once and exits (restart: "no"). */
export function isOneShot(service: ComposeService): boolean {
  return service.restart === "no";
}

/** Every image names a fixed version, and the built services share one image. */
export function imageProblems(compose: ComposeFile): string[] {
  const problems: string[] = [];
  for (const service of compose.services.values()) {
    if (service.image === undefined) {
      problems.push(`${service.name}: no image; name it (built services share one image tag)`);
      continue;
    }
    const problem = pinProblem(service.image);
    if (problem) problems.push(`${service.name}: image ${service.image} ${problem}`);
  }
  const built = [...compose.services.values()].filter((service) => service.build !== undefined);
  const images = new Set(built.map((service) => service.image));
  const builds = new Set(built.map((service) => JSON.stringify(service.build)));
  if (images.size > 1 || builds.size > 1) {
    problems.push(`built services (${built.map((s) => s.name).join(", ")}) must share one build and image, so it is built once`);
  }
  return problems;
}

function pinProblem(image: string): string | undefined {
  if (image.includes("@sha256:")) return undefined;
  const slash = image.lastIndexOf("/");
  const colon = image.lastIndexOf(":");
  if (colon <= slash) return "has no tag (that means latest)";
  const tag = image.slice(colon + 1);
  if (/latest/i.test(tag)) return `uses the moving tag "${tag}"`;
  if (!/\d/.test(tag)) return `has tag "${tag}", which names no version`;
  return undefined;
}

/** Named volumes a service mounts, each declared at the top level. */
export function volumeProblems(compose: ComposeFile): string[] {
  const problems: string[] = [];
  for (const service of compose.services.values()) {
    for (const volume of service.volumes) {
      const named = !volume.source.startsWith(".") && !volume.source.startsWith("/");
      if (named && !compose.volumes.includes(volume.source)) {
        problems.push(`${service.name}: mounts volume "${volume.source}", which is not declared under volumes:`);
      }
    }
  }
  return problems;
}

/** The service whose image comes from `repository` (e.g. "postgres", "envoyproxy/envoy"). */
export function serviceByImage(compose: ComposeFile, repository: string): ComposeService | undefined {
  return [...compose.services.values()].find((service) => service.image?.split(":")[0] === repository);
}

/** The container path a service mounts at `target`, as its host path (relative paths without "./"). */
export function hostPathMountedAt(service: ComposeService, target: string): string | undefined {
  return service.volumes.find((volume) => volume.target === target)?.source.replace(/^\.\//, "");
}
