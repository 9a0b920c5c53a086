import { Code, ConnectError } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createLogger } from "../process/logger.js";
import { createUpstreamBreaker } from "../rpc/resilience.js";
import { startMetricsServer, type MetricsServer } from "./metrics-server.js";
import { metricsRegistry } from "./registry.js";
import { observeRpc, rpcCodeName } from "./rpc-metrics.js";
import { scrapedGauges } from "./scraped-gauges.js";

const logger = createLogger("metrics-test", "silent");
let server: MetricsServer;

beforeAll(async () => {
  server = await startMetricsServer({ host: "127.0.0.1", port: 0, logger });
});
afterAll(() => server.stop());

const scrape = async () => (await fetch(`http://127.0.0.1:${server.port}/metrics`)).text();

describe("platform/metrics", () => {
  it("labels codes with gRPC's status names", () => {
    expect([Code.InvalidArgument, Code.FailedPrecondition, Code.DeadlineExceeded, 0].map((c) => rpcCodeName(c))).toEqual(["INVALID_ARGUMENT", "FAILED_PRECONDITION", "DEADLINE_EXCEEDED", "OK"]);
  });

  it("serves RPC durations by service, method, protocol and code, and the Node process metrics", async () => {
    observeRpc("test.v1.Svc", "Do", "grpc", Code.NotFound, 0.003);
    const text = await scrape();
    expect(text).toContain('ordermesh_rpc_server_duration_seconds_count{service="test.v1.Svc",method="Do",protocol="grpc",code="NOT_FOUND"} 1');
    expect(text).toMatch(/^nodejs_eventloop_lag_seconds \d/m);
    expect(text).toMatch(/^process_resident_memory_bytes \d/m);
  });

  it("reads scraped gauges once per scrape and leaves out a source that fails, then forgets a removed one", async () => {
    let reads = 0;
    const gauges = scrapedGauges({ a: { name: "ordermesh_test_a", help: "a" }, b: { name: "ordermesh_test_b", help: "b" } }, ["src"]);
    const remove = gauges.add({ src: "ok" }, () => (reads++, { a: 1, b: 2 }));
    gauges.add({ src: "broken" }, () => Promise.reject(new Error("database gone")));
    const text = await scrape();
    expect(text).toContain('ordermesh_test_a{src="ok"} 1');
    expect(text).toContain('ordermesh_test_b{src="ok"} 2');
    expect(text).not.toContain('src="broken"');
    expect(reads).toBe(1);
    remove();
    expect(await metricsRegistry.getSingleMetricAsString("ordermesh_test_a")).not.toContain('src="ok"');
  });

  it("reports a breaker as 0 closed and 2 open", async () => {
    const breaker = createUpstreamBreaker({ name: "metrics-test-upstream", logger, retryOn: [Code.Unavailable], breakerThreshold: 1, halfOpenAfterMs: 60_000 });
    const state = async () => /ordermesh_circuit_breaker_state\{upstream="metrics-test-upstream"\} (\d)/.exec(await scrape())?.[1];
    expect(await state()).toBe("0");
    await breaker.execute(() => Promise.reject(new ConnectError("down", Code.Unavailable))).catch(() => undefined);
    expect(await state()).toBe("2");
  });

  it("answers 404 to anything but GET /metrics", async () => {
    const base = `http://127.0.0.1:${server.port}`;
    expect((await fetch(`${base}/`)).status).toBe(404);
    expect((await fetch(`${base}/metrics`, { method: "DELETE" })).status).toBe(404);
  });
});
