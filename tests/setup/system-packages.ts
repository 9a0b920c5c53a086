import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";

/** A program some tests run, and the Debian package that provides it. */
export interface SystemRequirement {
  /** Debian package name, e.g. "chromium". */
  pkg: string;
  /** Where the tests look for the program. */
  path: string;
  /** Which tests need it, for the message when it cannot be had. */
  neededBy: string;
}

/** Debian's Chromium, which the browser test drives (never a downloaded browser). */
export const chromiumPath = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
/** The nats-server that fault tests start on ephemeral ports. */
export const natsServerPath = process.env.NATS_SERVER_BIN ?? "/usr/sbin/nats-server";
/** Debian's Prometheus, which the metrics test runs against the services. */
export const prometheusPath = process.env.PROMETHEUS_BIN ?? "/usr/bin/prometheus";
/** promtool (Debian package prometheus), which checks deploy/prometheus/. */
export const promtoolPath = process.env.PROMTOOL_BIN ?? "/usr/bin/promtool";

/** Every program outside npm that `npm test` runs; a test that needs a new one adds it here. */
export const systemRequirements: readonly SystemRequirement[] = [
  { pkg: "chromium", path: chromiumPath, neededBy: "tests/browser.test.ts" },
  { pkg: "nats-server", path: natsServerPath, neededBy: "the tests that start their own broker" },
  { pkg: "prometheus", path: prometheusPath, neededBy: "tests/metrics-scrape.test.ts" },
  { pkg: "prometheus", path: promtoolPath, neededBy: "tests/prometheus-config.test.ts" },
];

/** The requirements whose program is not there. */
export function missingRequirements(requirements: readonly SystemRequirement[] = systemRequirements): SystemRequirement[] {
  return requirements.filter((r) => !existsSync(r.path));
}

/**
 * Vitest global setup: the README's test command alone must work on a fresh machine, so the run starts
 * by making sure every program the tests need is there.
 */
export default function setup(): void {
  ensureSystemPackages();
}

/**
 * Installs the missing Debian packages with apt-get when this process may (root); otherwise throws one
 * line naming the packages, which stops the run before any test.
 */
export function ensureSystemPackages(
  requirements: readonly SystemRequirement[] = systemRequirements,
  canInstall = process.getuid?.() === 0 && existsSync("/usr/bin/apt-get"),
): void {
  const missing = missingRequirements(requirements);
  if (missing.length === 0) return;
  // One package may provide several programs (prometheus: prometheus and promtool).
  const pkgs = [...new Set(missing.map((r) => r.pkg))];
  const what = missing.map((r) => `${r.pkg} (${r.path}, for ${r.neededBy})`).join(", ");
  if (!canInstall) {
    throw oneLine(`missing Debian packages: ${what}; install them with: sudo apt-get install -y ${pkgs.join(" ")}`);
  }
  process.stderr.write(`test setup: installing ${pkgs.join(" ")} with apt-get (missing: ${what})\n`);
  // The package lists of a fresh machine are empty or stale; install finds nothing without an update.
  for (const args of [["update"], ["install", "-y", "--no-install-recommends", ...pkgs]]) {
    const run = spawnSync("apt-get", args, { stdio: ["ignore", "inherit", "inherit"], env: { ...process.env, DEBIAN_FRONTEND: "noninteractive" } });
    if (run.status !== 0) throw oneLine(`apt-get ${args[0]} failed (${run.error?.message ?? `exit ${run.status}`}); missing Debian packages: ${what}`);
  }
  const still = missingRequirements(missing);
  if (still.length > 0) throw oneLine(`apt-get installed ${pkgs.join(" ")} but ${still.map((r) => r.path).join(", ")} is still missing`);
}

// Vitest prints a setup error's stack; the message is all a user needs here.
function oneLine(message: string): Error {
  const err = new Error(message);
  err.stack = `Error: ${message}`;
  return err;
}
