import { spawn, type ChildProcess } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort } from "../../services/mesh/ports.js";
import { prometheusPath } from "../setup/system-packages.js";
import { waitFor } from "./wait-for.js";

/** One sample of an instant query's result. */
export interface PromSample {
  metric: Record<string, string>;
  value: number;
}

/** A private Prometheus (Debian's binary) on a free port with a temporary store. */
export interface PrometheusUnderTest {
  url: string;
  /** Runs an instant PromQL query over the HTTP API and returns its vector. */
  query(promql: string): Promise<PromSample[]>;
  stop(): Promise<void>;
}

/** Starts Prometheus scraping each job's 127.0.0.1:port/metrics every scrapeIntervalS seconds. */
export async function startPrometheus(targets: Record<string, number>, scrapeIntervalS = 1): Promise<PrometheusUnderTest> {
  const dir = await mkdtemp(join(tmpdir(), "ordermesh-prometheus-"));
  const config = {
    global: { scrape_interval: `${scrapeIntervalS}s`, evaluation_interval: `${scrapeIntervalS}s`, scrape_timeout: `${scrapeIntervalS}s` },
    scrape_configs: Object.entries(targets).map(([job, port]) => ({ job_name: job, static_configs: [{ targets: [`127.0.0.1:${port}`] }] })),
  };
  // JSON is YAML: no YAML writer needed for Prometheus's config.
  await writeFile(join(dir, "prometheus.yml"), JSON.stringify(config));
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const child: ChildProcess = spawn(
    prometheusPath,
    [`--config.file=${join(dir, "prometheus.yml")}`, `--storage.tsdb.path=${join(dir, "data")}`, `--web.listen-address=127.0.0.1:${port}`, "--log.level=warn"],
    { stdio: ["ignore", "ignore", "pipe"] },
  );
  let stderr = "";
  child.stderr?.on("data", (chunk: Buffer) => (stderr = (stderr + chunk.toString()).slice(-4000)));
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((r) => child.once("exit", r));
      child.kill("SIGTERM");
      await exited;
    }
    await rm(dir, { recursive: true, force: true });
  };
  try {
    await waitFor(
      async () => {
        if (child.exitCode !== null) throw new Error(`prometheus exited with ${child.exitCode}: ${stderr}`);
        return (await fetch(`${url}/-/ready`)).ok;
      },
      { timeoutMs: 20_000, intervalMs: 100, what: "prometheus to be ready" },
    );
  } catch (err) {
    await stop();
    throw err;
  }
  return {
    url,
    stop,
    async query(promql) {
      const res = await fetch(`${url}/api/v1/query?${new URLSearchParams({ query: promql })}`);
      const body = (await res.json()) as { status: string; error?: string; data?: { resultType: string; result: Array<{ metric: Record<string, string>; value: [number, string] }> } };
      if (body.status !== "success" || body.data?.resultType !== "vector") throw new Error(`query ${promql} failed: ${body.error ?? JSON.stringify(body)}`);
      return body.data.result.map((r) => ({ metric: r.metric, value: Number(r.value[1]) }));
    },
  };
}
