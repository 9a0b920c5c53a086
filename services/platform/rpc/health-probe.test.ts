import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { waitFor } from "../../../tests/support/wait-for.js";
import { projectPath } from "../db/database.js";
import { probeHealth } from "./health-probe.js";
import { createLogger } from "../process/logger.js";
import { startServiceHost, type ServiceHost } from "./service-host.js";

let host: ServiceHost;
let healthy = true;
beforeAll(async () => {
  // A host with no services of its own (like the notifier): health and reflection only.
  host = await startServiceHost({
    logger: createLogger("probe-test", "silent"),
    host: "127.0.0.1",
    grpcPort: 0,
    services: [],
    healthChecks: [async () => healthy],
    healthIntervalMs: 100,
  });
});
afterAll(async () => {
  await host?.stop();
});

const cli = projectPath("dist/services/platform/rpc/health-probe.js");

/** Runs the compiled CLI and returns its exit code and output. */
async function runCli(...args: string[]): Promise<{ code: number; stdout: string }> {
  if (!existsSync(cli)) throw new Error(`${cli} is missing: run \`npm run build\` first (npm test does)`);
  try {
    const { stdout } = await promisify(execFile)(process.execPath, [cli, ...args], { env: { ...process.env, HEALTH_PROBE_TIMEOUT_MS: "1000" } });
    return { code: 0, stdout };
  } catch (err) {
    const e = err as { code: number; stdout: string };
    return { code: e.code, stdout: e.stdout };
  }
}

describe("health probe", () => {
  it("reports the host's status as it changes", async () => {
    const address = `127.0.0.1:${host.grpcPort}`;
    expect(await probeHealth(address)).toBe("SERVING");
    healthy = false;
    await waitFor(async () => (await probeHealth(address)) === "NOT_SERVING", { what: "NOT_SERVING" });
    healthy = true;
    await waitFor(async () => (await probeHealth(address)) === "SERVING", { what: "SERVING again" });
    expect(await probeHealth(address, "no.such.Service")).toMatch(/^error: NOT_FOUND/);
  });

  it("exits 0 only for SERVING (the docker-compose healthcheck contract)", async () => {
    const address = `127.0.0.1:${host.grpcPort}`;
    expect(await runCli(address)).toEqual({ code: 0, stdout: `${address}: SERVING\n` });
    healthy = false;
    await waitFor(async () => (await probeHealth(address)) === "NOT_SERVING", { what: "NOT_SERVING" });
    expect(await runCli(address)).toEqual({ code: 1, stdout: `${address}: NOT_SERVING\n` });
    healthy = true;
    const unknown = await runCli(address, "no.such.Service");
    expect(unknown.code).toBe(1);
    // Nothing listens on port 1: the probe fails within its deadline instead of hanging.
    const down = await runCli("127.0.0.1:1");
    expect(down.code).toBe(1);
    expect(down.stdout).toMatch(/^127\.0\.0\.1:1: error: UNAVAILABLE/);
    // Usage errors (node:util parseArgs): nothing, an unknown flag, a third argument.
    expect((await runCli()).code).toBe(2);
    expect((await runCli("--verbose", address)).code).toBe(2);
    expect((await runCli(address, "", "extra")).code).toBe(2);
  });
});
