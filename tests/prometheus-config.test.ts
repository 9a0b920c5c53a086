import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { promtoolPath } from "./setup/system-packages.js";

// deploy/prometheus/ is what docker-compose.yml's Prometheus loads; promtool is Prometheus's own checker.
const deployDir = fileURLToPath(new URL("../deploy/prometheus/", import.meta.url));

function promtool(...args: string[]): { status: number | null; output: string } {
  const run = spawnSync(promtoolPath, args, { cwd: deployDir, encoding: "utf8", timeout: 15_000 });
  return { status: run.status, output: `${run.stdout}${run.stderr}` };
}

describe("deploy/prometheus", () => {
  it("alerts.yml passes promtool check rules", () => {
    const run = promtool("check", "rules", "alerts.yml");
    expect(run.output).toContain("SUCCESS");
    expect(run.status, run.output).toBe(0);
  });

  it("prometheus.yml (with its rule files) passes promtool check config", () => {
    const run = promtool("check", "config", "prometheus.yml");
    expect(run.output).toContain("SUCCESS");
    expect(run.status, run.output).toBe(0);
  });

  it("the alerts fire as the README says (promtool test rules)", () => {
    const run = promtool("test", "rules", "alerts.test.yml");
    expect(run.output).toContain("SUCCESS");
    expect(run.status, run.output).toBe(0);
  });
});
