import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { httpRequest, type PlainResponse } from "../../tests/support/http-request.js";
import { startMetricsServer, type MetricsServer } from "../platform/metrics/index.js";
import { createLogger } from "../platform/process/index.js";
import { createUpstreamBreaker } from "../platform/rpc/index.js";
import { createConsoleAdmin } from "./console-admin.js";
import { createConsoleApi, type ConsolePart } from "./console-api.js";
import type { ServicesAnswer, TraceAnswer, TracesAnswer } from "./console-contract.js";
import { maxBodyBytes } from "./console-input.js";
import { natsPart, postgresParts } from "./console-parts.js";
import { newSigningKey } from "./dev-issuer.js";
import { startOtlpReceiver, type OtlpReceiver } from "./otlp-receiver.js";
import { readServiceNumbers } from "./service-numbers.js";
import { startWebPageServer, type WebPageServer } from "./web-page-server.js";

// The console's JSON API behind the page server, as the launcher wires it: real NATS and PostgreSQL
// probes, a real /metrics listener, the launcher's OTLP receiver fed over HTTP. No AdminService runs
// here (tests/console.test.ts drives it through the real services), so a POST that passes every
// check ends at "orders is not running yet": that is how these tests see the checks let it through.
const logger = createLogger("console-api-test", "silent");
let root: string;
let page: WebPageServer;
let externalPage: WebPageServer;
let metrics: MetricsServer;
let receiver: OtlpReceiver;
let base: string;
const orderId = "0b5c1f9e-3f6a-4f61-9d2e-4f1b2c3d4e5f";
const traceId = "4bf92f3577b34da6a3ce929d0e0e4736";

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), "ordermesh-console-"));
  await writeFile(join(root, "index.html"), "<!doctype html>");
  await writeFile(join(root, "console.html"), "<!doctype html><title>console</title>");
  metrics = await startMetricsServer({ host: "127.0.0.1", port: 0, logger });
  // An isolated breaker reads as open on /metrics, as a broken upstream's would.
  createUpstreamBreaker({ name: "console-test-upstream", logger, retryOn: [] }).isolate();
  receiver = await startOtlpReceiver({ host: "127.0.0.1", port: 0 });
  const { signer } = await newSigningKey("console-test");
  const admin = createConsoleAdmin(signer, Buffer.from(""));
  const metricsUrl = `http://127.0.0.1:${metrics.port}/metrics`;
  const parts: ConsolePart[] = [
    ...postgresParts(["postgres://postgres@127.0.0.1:5432/orders", "postgres://postgres@127.0.0.1:5432/shipping"]),
    natsPart("nats://127.0.0.1:4222"),
    // NATS greets with INFO, which is no answer to PostgreSQL's SSLRequest: a probe tells servers apart.
    { ...postgresParts(["postgres://postgres@127.0.0.1:4222/x"])[0]!, name: "not postgres" },
    { name: "orders", kind: "service", addresses: { metrics: metricsUrl }, health: async () => "SERVING", numbers: () => readServiceNumbers(metricsUrl) },
    { name: "gone", kind: "service", addresses: {}, health: async () => "error: UNAVAILABLE No connection established", numbers: () => readServiceNumbers("http://127.0.0.1:1/metrics") },
  ];
  page = await startWebPageServer({ root, host: "127.0.0.1", port: 0 });
  page.setConsoleApi(createConsoleApi({ parts: () => parts, admin, tracing: { mode: "receiver", receiver } }));
  externalPage = await startWebPageServer({ root, host: "127.0.0.1", port: 0 });
  externalPage.setConsoleApi(createConsoleApi({ parts: () => [], admin, tracing: { mode: "external", endpoint: "http://collector:4318" } }));
  base = `http://127.0.0.1:${page.port}`;
});

afterAll(async () => {
  await page?.close();
  await externalPage?.close();
  await metrics?.stop();
  await receiver?.close();
  await rm(root, { recursive: true, force: true });
});

const origin = () => `http://127.0.0.1:${page.port}`;
function get(path: string, headers: Record<string, string> = {}): Promise<PlainResponse> {
  return httpRequest(`${base}${path}`, { method: "GET", headers });
}
function post(path: string, body: unknown, headers: Record<string, string> = { origin: origin(), "content-type": "application/json" }): Promise<PlainResponse> {
  return httpRequest(`${base}${path}`, { method: "POST", headers, body: typeof body === "string" ? body : JSON.stringify(body) });
}
const errorOf = (res: PlainResponse) => (JSON.parse(res.body) as { error: string }).error;

describe("operator console: who may use it", () => {
  it("serves the page and its API to local requests only: a foreign Host (DNS rebinding) gets 404", async () => {
    expect((await get("/console")).body).toContain("<title>console</title>");
    expect((await get("/console/api/services")).status).toBe(200);
    expect((await get("/console", { host: "attacker.example" })).status).toBe(404);
    expect((await get("/console/api/services", { host: "attacker.example" })).status).toBe(404);
    expect((await get("/console/api/services", { host: `localhost:${page.port}` })).status).toBe(200);
    // No CORS headers: another origin's script cannot read an answer.
    expect((await get("/console/api/services", { origin: "https://attacker.example" })).headers["access-control-allow-origin"]).toBeUndefined();
  });

  it("refuses a POST without the console's own Origin (CSRF), and one that is not JSON", async () => {
    const selection = { refs: [{ stream: "ORDERS_DEADLETTER", sequence: "1" }] };
    const noOrigin = await post("/console/api/dead-letters/redrive", selection, { "content-type": "application/json" });
    expect(noOrigin.status).toBe(403);
    expect(errorOf(noOrigin)).toMatch(/cross-origin/);
    expect((await post("/console/api/dead-letters/discard", selection, { origin: "http://attacker.example", "content-type": "application/json" })).status).toBe(403);
    // The Origin must be the page's own, Host included: another loopback port is another origin.
    expect((await post("/console/api/dead-letters/discard", selection, { origin: "http://127.0.0.1:1", "content-type": "application/json" })).status).toBe(403);
    expect((await post("/console/api/dead-letters/discard", JSON.stringify(selection), { origin: origin(), "content-type": "text/plain" })).status).toBe(415);
    // Everything checked and passed: only the missing AdminService is left.
    const passed = await post("/console/api/dead-letters/redrive", selection);
    expect(passed.status).toBe(503);
    expect(errorOf(passed)).toBe("orders is not running yet");
  });

  it("answers wrong methods and unknown paths with 405 and 404", async () => {
    expect((await get("/console/api/dead-letters/redrive")).status).toBe(405);
    expect((await post("/console/api/services", {})).status).toBe(405);
    expect((await get("/console/api/nothing-here")).status).toBe(404);
  });
});

describe("operator console: bounded inputs", () => {
  it("checks a selection before anything is called: exactly one kind, names, sequences, at most 1000 refs", async () => {
    const refused = async (body: unknown) => {
      const res = await post("/console/api/dead-letters/discard", body);
      expect(res.status, res.body).toBe(400);
      return errorOf(res);
    };
    expect(await refused({})).toMatch(/exactly one of refs, matching or all/);
    expect(await refused({ all: true, refs: [] })).toMatch(/exactly one/);
    expect(await refused({ all: "yes" })).toMatch(/all must be true/);
    expect(await refused({ refs: [] })).toMatch(/refs must be a list of 1 to 1000/);
    expect(await refused({ refs: Array.from({ length: 1001 }, (_, i) => ({ stream: "S", sequence: i + 1 })) })).toMatch(/1 to 1000/);
    expect(await refused({ refs: [{ stream: "ORDERS.>", sequence: 1 }] })).toMatch(/refs\[0\]\.stream/);
    expect(await refused({ refs: [{ stream: "S", sequence: 0 }] })).toMatch(/refs\[0\]\.sequence must be a positive integer/);
    expect(await refused({ refs: [{ stream: "S", sequence: "18446744073709551616" }] })).toMatch(/sequence/);
    expect(await refused({ refs: [{ stream: "S", sequence: 1.5 }] })).toMatch(/sequence/);
    expect(await refused({ matching: {} })).toMatch(/matching needs stream, consumer or event_type/);
    expect(await refused({ matching: { event_type: "a b" } })).toMatch(/event_type/);
    expect(await refused("[1]")).toMatch(/a JSON object/);
    expect(await refused("{")).toMatch(/not valid JSON/);
    // The largest sequence JetStream can have passes.
    expect((await post("/console/api/dead-letters/discard", { refs: [{ stream: "S", sequence: "18446744073709551615" }] })).status).toBe(503);
  });

  it("refuses a body over the limit while it arrives", async () => {
    const res = await post("/console/api/dead-letters/redrive", { refs: [{ stream: "S", sequence: 1 }], pad: "x".repeat(maxBodyBytes) });
    expect(res.status).toBe(413);
    expect(res.headers.connection).toBe("close");
  });

  it("checks query and path parameters: names, page sizes, page tokens, sequences, services, trace ids", async () => {
    const status = async (path: string) => (await get(path)).status;
    expect(await status("/console/api/dead-letters?stream=a%20b")).toBe(400);
    expect(await status("/console/api/dead-letters?page_size=0")).toBe(400);
    expect(await status("/console/api/dead-letters?page_size=1001")).toBe(400);
    expect(await status(`/console/api/dead-letters?page_token=${"x".repeat(1025)}`)).toBe(400);
    expect(await status("/console/api/dead-letters?stream=ORDERS_DEADLETTER&page_size=10")).toBe(503);
    expect(await status("/console/api/dead-letters/ORDERS_DEADLETTER/abc")).toBe(400);
    expect(await status("/console/api/dead-letters/ORDERS%2EDL/1")).toBe(400);
    expect(await status("/console/api/dead-letters/ORDERS_DEADLETTER/7")).toBe(503);
    expect(await status("/console/api/outbox/notifier/failed")).toBe(400);
    expect(await status("/console/api/outbox/shipping/failed")).toBe(503);
    expect((await post("/console/api/outbox/orders/retry", { ids: ["not an id!"] })).status).toBe(400);
    expect((await post("/console/api/outbox/orders/retry", { ids: ["a"], all: true })).status).toBe(400);
    expect(await status("/console/api/traces/NOT-A-TRACE")).toBe(400);
    expect(await status("/console/api/traces?limit=201")).toBe(400);
    expect(await status("/console/api/traces?order_id=%27%3B--")).toBe(400);
  });
});

describe("operator console: what it shows", () => {
  it("lists every part with its health, and a service's numbers from its /metrics", async () => {
    const res = await get("/console/api/services");
    const { services } = JSON.parse(res.body) as ServicesAnswer;
    // Two databases on one server are one PostgreSQL; both dependencies answer as what they are.
    expect(services.map((s) => [s.name, s.health])).toEqual([
      ["postgres", "UP"],
      ["nats", "UP"],
      ["not postgres", "error: unexpected answer"],
      ["orders", "SERVING"],
      ["gone", "error: UNAVAILABLE No connection established"],
    ]);
    const orders = services.find((s) => s.name === "orders")!;
    expect(orders.numbers?.breakers).toContainEqual({ upstream: "console-test-upstream", state: "open" });
    expect(orders.numbers?.rssBytes).toBeGreaterThan(0);
    const gone = services.find((s) => s.name === "gone")!;
    expect(gone.numbers).toBeUndefined();
    expect(gone.numbersError).toMatch(/fetch failed|ECONNREFUSED/);
  });

  it("keeps the traces the services send over OTLP/HTTP, finds an order's by the id a span carries, and shows its spans", async () => {
    const span = (spanId: string, name: string, kind: number, startMs: number, attributes: { key: string; value: { stringValue: string } }[], parentSpanId?: string) => ({
      traceId,
      spanId,
      ...(parentSpanId ? { parentSpanId } : {}),
      name,
      kind,
      startTimeUnixNano: String(BigInt(startMs) * 1_000_000n),
      endTimeUnixNano: String(BigInt(startMs + 5) * 1_000_000n),
      attributes,
      status: {},
    });
    const resource = (service: string) => ({ attributes: [{ key: "service.name", value: { stringValue: service } }] });
    const body = {
      resourceSpans: [
        { resource: resource("orders"), scopeSpans: [{ spans: [span("00f067aa0ba902b7", "orders.v1.OrderService/CreateOrder", 2, 1_700_000_000_000, [{ key: "ordermesh.order_id", value: { stringValue: orderId } }])] }] },
        { resource: resource("notifier"), scopeSpans: [{ spans: [span("00f067aa0ba902b8", "orders.created process", 5, 1_700_000_000_010, [], "00f067aa0ba902b7")] }] },
      ],
    };
    const sent = await httpRequest(`${receiver.url}/v1/traces`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
    expect(sent.status).toBe(200);

    const all = JSON.parse((await get("/console/api/traces")).body) as TracesAnswer;
    expect(all.tracing).toBe("receiver");
    expect(all.traces.map((t) => t.traceId)).toContain(traceId);
    const mine = JSON.parse((await get(`/console/api/traces?order_id=${orderId}`)).body) as TracesAnswer;
    expect(mine.traces).toEqual([expect.objectContaining({ traceId, rootName: "orders.v1.OrderService/CreateOrder", spanCount: 2 })]);
    expect(mine.traces[0]!.services.sort()).toEqual(["notifier", "orders"]);
    const other = JSON.parse((await get("/console/api/traces?order_id=1e5c1f9e-3f6a-4f61-9d2e-4f1b2c3d4e5f")).body) as TracesAnswer;
    expect(other.traces).toEqual([]);

    const trace = JSON.parse((await get(`/console/api/traces/${traceId}`)).body) as TraceAnswer;
    expect(trace.spans.map((s) => [s.name, s.service, s.kind, s.parentSpanId])).toEqual([
      ["orders.v1.OrderService/CreateOrder", "orders", "SERVER", undefined],
      ["orders.created process", "notifier", "CONSUMER", "00f067aa0ba902b7"],
    ]);
    expect((await get("/console/api/traces/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa")).status).toBe(404);
  });

  it("says where traces go when the services export elsewhere", async () => {
    const list = await httpRequest(`http://127.0.0.1:${externalPage.port}/console/api/traces`, { method: "GET" });
    expect(JSON.parse(list.body)).toEqual({ tracing: "external", traces: [] });
    const one = await httpRequest(`http://127.0.0.1:${externalPage.port}/console/api/traces/${traceId}`, { method: "GET" });
    expect(one.status).toBe(404);
    expect(errorOf(one)).toMatch(/export to http:\/\/collector:4318/);
  });
});
