import * as http from "node:http";
import { create } from "@bufbuild/protobuf";
import { Code, ConnectError, type HandlerContext, type Interceptor } from "@connectrpc/connect";
import { createClient } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport, createGrpcWebTransport } from "@connectrpc/connect-node";
import { afterEach, describe, expect, it } from "vitest";
import { ShipmentSchema, ShippingService } from "../../../gen/shipping/v1/shipping_pb.js";
import { checkHealth, newGrpcJsClient, newHealthClient, unaryCall, watchHealth } from "../../../tests/support/grpc-js-clients.js";
import { httpRequest } from "../../../tests/support/http-request.js";
import { failure, rpcPaths, type RpcPath } from "../../../tests/support/rpc-paths.js";
import { testLogger } from "../../../tests/support/shipping-harness.js";
import { waitFor } from "../../../tests/support/wait-for.js";
import { maxDeadlineMs } from "./deadline-limits.js";
import { startServiceHost, type ServiceHost, type ServiceHostOptions } from "./service-host.js";
import { bindService } from "./service-impl.js";

/**
 * A test-only ShippingService: getShipment waits until the caller's deadline or cancellation aborts
 * ctx.signal and records it; cancelShipment waits until the test releases it (an in-flight call).
 */
function slowShipping() {
  const seen = { aborted: [] as unknown[], timeouts: [] as Array<number | undefined>, inFlight: 0 };
  let release!: () => void;
  let released = new Promise<void>((resolve) => (release = resolve));
  const binding = bindService(ShippingService, {
    async getShipment(_req, ctx: HandlerContext) {
      seen.timeouts.push(ctx.timeoutMs());
      await new Promise<void>((resolve) => ctx.signal.addEventListener("abort", () => resolve(), { once: true }));
      seen.aborted.push(ctx.signal.reason);
      throw ctx.signal.reason;
    },
    async cancelShipment(req) {
      seen.inFlight++;
      await released;
      return { shipment: create(ShipmentSchema, { id: req.id }) };
    },
    createShipment: notInThisTest,
    getShipmentByOrder: notInThisTest,
    createShipments: notInThisTest,
    updateShipmentStatus: notInThisTest,
  });
  return {
    binding,
    seen,
    release: () => release(),
    reset: () => (released = new Promise<void>((resolve) => (release = resolve))),
  };
}

function notInThisTest(): never {
  throw new ConnectError("not in this test", Code.Unimplemented);
}

let host: ServiceHost | undefined;
let paths: RpcPath[] = [];

async function start(options: Partial<ServiceHostOptions> & Pick<ServiceHostOptions, "services">): Promise<ServiceHost> {
  host = await startServiceHost({ logger: testLogger, host: "127.0.0.1", grpcPort: 0, webPort: 0, healthChecks: [], ...options });
  paths = rpcPaths(host.grpcPort, host.webPort!);
  return host;
}

afterEach(async () => {
  paths.forEach((p) => p.close());
  paths = [];
  await host?.stop();
  host = undefined;
});

const id = "5f0c6c1e-7c43-4c5e-9d7e-2f2a1c7f9b10";

describe("deadlines", () => {
  it("a client deadline shorter than the handler gives DEADLINE_EXCEEDED and aborts ctx.signal, on every path", async () => {
    const slow = slowShipping();
    await start({ services: [slow.binding] });
    for (const [i, path] of paths.entries()) {
      const started = Date.now();
      const err = await failure(path.call(ShippingService.method.getShipment, { id }, { timeoutMs: 200 }));
      expect(err.code, path.name).toBe(Code.DeadlineExceeded);
      expect(Date.now() - started, path.name).toBeLessThan(2000);
      // The server learns the deadline (not only the client), and the handler's signal fires.
      await waitFor(() => slow.seen.aborted.length === i + 1, { what: `handler abort via ${path.name}` });
      expect(slow.seen.timeouts[i], path.name).toBeGreaterThan(0);
      expect(slow.seen.timeouts[i], path.name).toBeLessThanOrEqual(200);
    }
  });

  it("a 30-day deadline is served as the longest a timer holds, never as already expired, on every path", async () => {
    const seen: Array<{ timeoutMs: number | undefined; aborted: boolean }> = [];
    const { grpcPort, webPort } = await start({
      services: [
        bindService(ShippingService, {
          async getShipment(req, ctx) {
            // Longer than the 1 ms after which an overflowed timer fires.
            await new Promise((resolve) => setTimeout(resolve, 50));
            seen.push({ timeoutMs: ctx.timeoutMs(), aborted: ctx.signal.aborted });
            return { shipment: create(ShipmentSchema, { id: req.id }) };
          },
          createShipment: notInThisTest,
          getShipmentByOrder: notInThisTest,
          createShipments: notInThisTest,
          updateShipmentStatus: notInThisTest,
          cancelShipment: notInThisTest,
        }),
      ],
    });
    const thirtyDaysMs = 30 * 24 * 3600 * 1000;
    const grpcJsCalls = [grpcPort, webPort!].map((port) => {
      const client = newGrpcJsClient(`127.0.0.1:${port}`);
      return unaryCall(client, ShippingService.method.getShipment, { id }, { timeoutMs: thirtyDaysMs }).finally(() => client.close());
    });
    // Connect clients would overflow their own timers, so the 30-day deadline goes in as a raw header.
    const header = (name: string, value: string): Interceptor => (next) => (req) => {
      req.header.set(name, value);
      return next(req);
    };
    const transports = [
      createGrpcTransport({ baseUrl: `http://127.0.0.1:${grpcPort}`, interceptors: [header("grpc-timeout", "720H")] }),
      createGrpcTransport({ baseUrl: `http://127.0.0.1:${webPort}`, interceptors: [header("grpc-timeout", "720H")] }),
      createConnectTransport({ baseUrl: `http://127.0.0.1:${webPort}`, httpVersion: "1.1", interceptors: [header("connect-timeout-ms", String(thirtyDaysMs))] }),
      createGrpcWebTransport({ baseUrl: `http://127.0.0.1:${webPort}`, httpVersion: "1.1", interceptors: [header("grpc-timeout", "720H")] }),
    ];
    const connectCalls = transports.map((t) => createClient(ShippingService, t).getShipment({ id }));
    const results = await Promise.all([...grpcJsCalls, ...connectCalls]);
    expect(results.map((r) => r.shipment?.id)).toEqual(results.map(() => id));
    expect(seen).toHaveLength(6);
    for (const s of seen) {
      expect(s.aborted).toBe(false);
      expect(s.timeoutMs).toBeGreaterThan(24 * 24 * 3600 * 1000);
      expect(s.timeoutMs).toBeLessThanOrEqual(maxDeadlineMs);
    }
  });

  it("a grpc-js client cancelling its call aborts ctx.signal", async () => {
    const slow = slowShipping();
    const { grpcPort } = await start({ services: [slow.binding] });
    const client = newGrpcJsClient(`127.0.0.1:${grpcPort}`);
    try {
      const call = client.makeUnaryRequest(
        `/${ShippingService.typeName}/GetShipment`,
        (b: Buffer) => b,
        (b: Buffer) => b,
        Buffer.alloc(0),
        () => {},
      );
      await waitFor(() => slow.seen.timeouts.length === 1, { what: "handler to start" });
      call.cancel();
      await waitFor(() => slow.seen.aborted.length === 1, { what: "handler abort" });
      expect(ConnectError.from(slow.seen.aborted[0]).code).toBe(Code.Canceled);
    } finally {
      client.close();
    }
  });
});

describe("CORS on the web port", () => {
  const preflight = (webPort: number, origin: string) =>
    httpRequest(`http://127.0.0.1:${webPort}/shipping.v1.ShippingService/GetShipment`, {
      method: "OPTIONS",
      headers: {
        origin,
        "access-control-request-method": "POST",
        "access-control-request-headers": "content-type,connect-protocol-version,connect-timeout-ms",
      },
    });

  it("answers a preflight from an allowed origin with the Connect methods and headers", async () => {
    const { webPort } = await start({ services: [slowShipping().binding], corsOrigins: ["https://shop.example"] });
    const res = await preflight(webPort!, "https://shop.example");
    expect(res.status).toBe(204);
    expect(res.headers["access-control-allow-origin"]).toBe("https://shop.example");
    expect(res.headers["access-control-allow-methods"]).toMatch(/\bPOST\b/);
    const allowed = String(res.headers["access-control-allow-headers"]).toLowerCase();
    for (const header of ["content-type", "connect-protocol-version", "connect-timeout-ms", "x-grpc-web"]) expect(allowed).toContain(header);
    expect(res.headers["access-control-max-age"]).toBeDefined();
  });

  it("grants nothing to an origin that is not allowed", async () => {
    const { webPort } = await start({ services: [slowShipping().binding], corsOrigins: ["https://shop.example"] });
    const res = await preflight(webPort!, "https://evil.example");
    expect(res.headers["access-control-allow-origin"]).toBeUndefined();
  });

  it("by default allows only the npm start web page, never the null origin, and caches preflights 10 minutes", async () => {
    const { webPort } = await start({ services: [slowShipping().binding] });
    const page = await preflight(webPort!, "http://127.0.0.1:8090");
    expect(page.headers["access-control-allow-origin"]).toBe("http://127.0.0.1:8090");
    expect(page.headers["access-control-max-age"]).toBe("600");
    for (const origin of ["null", "https://evil.example", "http://127.0.0.1:8091"]) {
      expect((await preflight(webPort!, origin)).headers["access-control-allow-origin"], origin).toBeUndefined();
    }
  });

  it("exposes the gRPC-Web and Connect response headers on actual requests", async () => {
    const { webPort } = await start({ services: [slowShipping().binding], corsOrigins: ["http://localhost:5173"] });
    const res = await httpRequest(`http://127.0.0.1:${webPort}/shipping.v1.ShippingService/CreateShipment`, {
      method: "POST",
      headers: { origin: "http://localhost:5173", "content-type": "application/json" },
      body: "{}",
    });
    expect(res.status).toBe(501);
    expect(JSON.parse(res.body)).toMatchObject({ code: "unimplemented" });
    expect(res.headers["access-control-allow-origin"]).toBe("http://localhost:5173");
    expect(String(res.headers["access-control-expose-headers"]).toLowerCase()).toContain("grpc-status");
  });
});

describe("shutdown", () => {
  it("reports NOT_SERVING, refuses new calls and lets in-flight calls on every path finish", async () => {
    const slow = slowShipping();
    const h = await start({ services: [slow.binding] });
    const health = newHealthClient(`127.0.0.1:${h.grpcPort}`);
    const watch = watchHealth(health, "");
    try {
      await waitFor(() => watch.statuses.includes("SERVING"), { what: "SERVING" });
      const calls = paths.map((p) => p.call(ShippingService.method.cancelShipment, { id }));
      await waitFor(() => slow.seen.inFlight === paths.length, { what: "every call in flight" });
      let stopped = false;
      const stopping = h.stop().then(() => (stopped = true));
      await waitFor(() => watch.statuses.at(-1) === "NOT_SERVING", { what: "NOT_SERVING on Watch" });
      expect(stopped).toBe(false);
      // A fresh connection is refused while the old calls drain.
      const late = createClient(ShippingService, createConnectTransport({ baseUrl: `http://127.0.0.1:${h.webPort}`, httpVersion: "1.1" }));
      await expect(late.cancelShipment({ id })).rejects.toMatchObject({ code: Code.Unavailable });
      slow.release();
      const results = await Promise.all(calls);
      expect(results.map((r) => r.shipment?.id)).toEqual(paths.map(() => id));
      await stopping;
      host = undefined;
    } finally {
      health.close();
    }
  });

  it("stops promptly with idle clients and Watch streams connected", async () => {
    const h = await start({ services: [slowShipping().binding], shutdownGraceMs: 5000 });
    const health = newHealthClient(`127.0.0.1:${h.grpcPort}`);
    const watch = watchHealth(health, "shipping.v1.ShippingService");
    // Every path opens a connection that stays idle (keep-alive, HTTP/2 sessions, grpc-js channel).
    for (const p of paths) expect((await failure(p.call(ShippingService.method.createShipment, {}))).code).toBe(Code.Unimplemented);
    await waitFor(() => watch.statuses.length > 0, { what: "a Watch status" });
    const started = Date.now();
    await h.stop();
    host = undefined;
    expect(Date.now() - started).toBeLessThan(1000);
    expect(watch.statuses.at(-1)).toBe("NOT_SERVING");
    health.close();
  });

  it("cuts calls that outlive the grace period", async () => {
    const slow = slowShipping();
    const h = await start({ services: [slow.binding], shutdownGraceMs: 300 });
    const client = newGrpcJsClient(`127.0.0.1:${h.grpcPort}`);
    try {
      const call = unaryCall(client, ShippingService.method.cancelShipment, { id }).catch((e: { code: number }) => e.code);
      await waitFor(() => slow.seen.inFlight === 1, { what: "call in flight" });
      const started = Date.now();
      await h.stop();
      host = undefined;
      expect(Date.now() - started).toBeLessThan(2000);
      // grpc-js's forceShutdown resets the stream; the client sees CANCELLED (or UNAVAILABLE if the socket goes first).
      expect([Code.Canceled, Code.Unavailable]).toContain(await call);
    } finally {
      slow.release();
      client.close();
    }
  });

  it("on HTTP/1.1 keep-alive answers every call it ran, refuses new ones cleanly and closes idle connections", async () => {
    const slow = slowShipping();
    const h = await start({ services: [slow.binding] });
    const url = `http://127.0.0.1:${h.webPort}/${ShippingService.typeName}/CancelShipment`;
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    const idleAgent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    try {
      // Two keep-alive connections that answered a call and now sit idle in their agents' pools.
      for (const a of [agent, idleAgent]) expect((await keepAliveRequest(a, url.replace("CancelShipment", "CreateShipment"))).status).toBe(501);
      const idleSocketClosed = new Promise<void>((resolve) => Object.values(idleAgent.freeSockets).flat()[0]!.once("close", () => resolve()));
      const inFlight = keepAliveRequest(new http.Agent({ keepAlive: true }), url);
      await waitFor(() => slow.seen.inFlight === 1, { what: "a call in flight" });

      const stopping = h.stop();
      // A request on an idle keep-alive connection during the drain: refused at once, and the connection closes.
      const refused = await keepAliveRequest(agent, url);
      expect(refused).toMatchObject({ reusedSocket: true, status: 503, headers: { connection: "close" } });
      expect(JSON.parse(refused.body)).toMatchObject({ code: "unavailable" });
      const late = createClient(ShippingService, createConnectTransport({ baseUrl: `http://127.0.0.1:${h.webPort}`, httpVersion: "1.1" }));
      await expect(late.cancelShipment({ id })).rejects.toMatchObject({ code: Code.Unavailable });

      slow.release();
      // The call in flight gets its answer, told not to reuse the connection.
      expect(await inFlight).toMatchObject({ status: 200, headers: { connection: "close" } });
      await stopping;
      host = undefined;
      await idleSocketClosed;
    } finally {
      slow.release();
      agent.destroy();
      idleAgent.destroy();
    }
  });

  it("under a keep-alive load loses no answer of a call it ran", async () => {
    const handled = new Set<string>();
    const quick = bindService(ShippingService, {
      async cancelShipment(req) {
        await new Promise((resolve) => setTimeout(resolve, 5));
        handled.add(req.id);
        return { shipment: create(ShipmentSchema, { id: req.id }) };
      },
      createShipment: notInThisTest,
      getShipment: notInThisTest,
      getShipmentByOrder: notInThisTest,
      createShipments: notInThisTest,
      updateShipmentStatus: notInThisTest,
    });
    const h = await start({ services: [quick] });
    const client = createClient(ShippingService, createConnectTransport({ baseUrl: `http://127.0.0.1:${h.webPort}`, httpVersion: "1.1" }));
    const answers = new Map<string, Code | "ok">();
    let next = 0;
    // 32 callers back to back on keep-alive connections, bounded in count; stopped midway by the shutdown.
    const callers = Array.from({ length: 32 }, async () => {
      while (next < 5000 && host) {
        const callId = `call-${next++}`;
        answers.set(callId, await client.cancelShipment({ id: callId }).then(() => "ok" as const, (err: unknown) => ConnectError.from(err).code));
      }
    });
    await waitFor(() => handled.size >= 200, { what: "200 calls handled" });
    await h.stop();
    host = undefined;
    await Promise.all(callers);
    expect([...handled].filter((callId) => answers.get(callId) !== "ok")).toEqual([]);
  });

  it("answers Check for both names while serving", async () => {
    const h = await start({ services: [slowShipping().binding] });
    const health = newHealthClient(`127.0.0.1:${h.grpcPort}`);
    try {
      expect(await checkHealth(health, "")).toBe("SERVING");
      expect(await checkHealth(health, "shipping.v1.ShippingService")).toBe("SERVING");
      await expect(checkHealth(health, "no.such.Service")).rejects.toMatchObject({ code: Code.NotFound });
    } finally {
      health.close();
    }
  });
});

/** One Connect JSON request through a keep-alive agent, saying whether it rode a reused connection. */
function keepAliveRequest(agent: http.Agent, url: string): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string; reusedSocket: boolean }> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method: "POST", agent, headers: { "content-type": "application/json" } }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (chunk: string) => (body += chunk));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body, reusedSocket: req.reusedSocket }));
    });
    req.on("error", reject);
    req.end(JSON.stringify({ id }));
  });
}
