import { execFile } from "node:child_process";
import { readFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createConnectTransport, Http2SessionManager } from "@connectrpc/connect-node";
import postgres from "postgres";
import { afterEach, beforeAll, afterAll, describe, expect, it } from "vitest";
import { AdminService } from "../../gen/admin/v1/admin_pb.js";
import { ShipmentStatus, ShippingService } from "../../gen/shipping/v1/shipping_pb.js";
import { checkHealth, newGrpcJsClient, newHealthClient, unaryCall, watchHealth } from "../../tests/support/grpc-js-clients.js";
import { startServiceProcess, type ServiceProcess } from "../../tests/support/service-process.js";
import { shipmentRequest } from "../../tests/support/shipping-harness.js";
import { createTestDatabase, type TestDatabase } from "../../tests/support/test-database.js";
import { projectPath } from "../platform/db/index.js";
import { createGrpcJsTransport } from "../platform/rpc/index.js";
import { ensureDevCertificates } from "../mesh/dev-certificates.js";
import { waitFor } from "../../tests/support/wait-for.js";

// Layer 3: the compiled shipping process (`npm test` builds dist/ first), driven like an operator would.
// Nothing listens on this NATS: shipping serves (and is SERVING) without it, its outbox keeping the
// events; shipping-outbox-crash.test.ts covers the publishing side.
const noNats = { NATS_URL: "nats://127.0.0.1:9" };
let testDb: TestDatabase;
let proc: ServiceProcess | undefined;

beforeAll(async () => {
  testDb = await createTestDatabase("shipping_process");
});

afterEach(() => {
  proc?.kill();
  proc = undefined;
});

afterAll(async () => {
  await testDb?.drop();
});

describe("shipping process", () => {
  it("on SIGTERM reports NOT_SERVING, finishes the in-flight call and exits 0", async () => {
    proc = startServiceProcess("services/shipping/main.js", {
      ...noNats,
      SHIPPING_PORT: "0",
      SHIPPING_WEB_PORT: "0",
      SHIPPING_DATABASE_URL: testDb.url,
      LOG_LEVEL: "info",
      // Lifecycle only; identity over TLS has its own process test below.
      AUTH_DISABLED: "true",
    });
    const listening = await proc.waitForLog((l) => l.msg === "listening", "the listening log line");
    expect(listening).toMatchObject({ serving: true, grpcPort: expect.any(Number), webPort: expect.any(Number) });
    const grpcAddress = `127.0.0.1:${listening.grpcPort as number}`;
    const client = newGrpcJsClient(grpcAddress);
    const health = newHealthClient(grpcAddress);
    const web = new Http2SessionManager(`http://127.0.0.1:${listening.webPort as number}`);
    const sql = postgres(testDb.url, { max: 2, onnotice: () => {} });
    const lock = await sql.reserve();
    try {
      expect(await checkHealth(health, "shipping.v1.ShippingService")).toBe("SERVING");
      const watch = watchHealth(health, "");
      // Idle connections on the web port (HTTP/1.1 keep-alive and h2c) must not hold up the exit.
      for (const transport of [
        createConnectTransport({ baseUrl: `http://127.0.0.1:${listening.webPort as number}`, httpVersion: "1.1" }),
        createConnectTransport({ baseUrl: `http://127.0.0.1:${listening.webPort as number}`, httpVersion: "2", sessionManager: web }),
      ]) {
        await expect(createClient(ShippingService, transport).getShipment({ id: "bad" })).rejects.toMatchObject({ code: Code.InvalidArgument });
      }

      // Hold a lock on the table so that a CreateShipment is provably in flight when SIGTERM arrives.
      await lock`begin`;
      await lock`lock table shipments in access exclusive mode`;
      const req = shipmentRequest();
      const inFlight = unaryCall(client, ShippingService.method.createShipment, req, { timeoutMs: 20_000 });
      await waitFor(async () => (await sql`select 1 from pg_locks where relation = 'shipments'::regclass and not granted`).length > 0, {
        what: "CreateShipment to wait on the table lock",
      });

      proc.signal("SIGTERM");
      await proc.waitForLog((l) => l.msg === "shutting down", "the shutting down log line");
      await waitFor(() => watch.statuses.at(-1) === "NOT_SERVING", { what: "Watch to report NOT_SERVING" });
      expect(proc.running()).toBe(true);

      await lock`rollback`;
      const res = await inFlight;
      expect(res.shipment).toMatchObject({ orderId: req.orderId, status: ShipmentStatus.PENDING });
      const drained = Date.now();
      const exit = await proc.exited;
      expect(exit, proc.output()).toEqual({ code: 0, signal: null });
      // Far below the 10 s grace: nothing but the one call was holding the process.
      expect(Date.now() - drained).toBeLessThan(3000);
      expect(proc.logs.some((l) => l.msg === "stopped")).toBe(true);
      // The call that was in flight is committed, not lost with the process.
      expect(await sql`select 1 from shipments where order_id = ${req.orderId}`).toHaveLength(1);
    } finally {
      lock.release();
      await sql.end();
      web.abort();
      health.close();
      client.close();
    }
  });

  it("serves AdminService on both ports: its own failed outbox rows, and dead letters UNAVAILABLE while NATS is away", async () => {
    // AUTH_DISABLED=true makes every caller an admin, as on orders; the admin-token check has its own tests.
    proc = startServiceProcess("services/shipping/main.js", { ...noNats, SHIPPING_PORT: "0", SHIPPING_WEB_PORT: "0", SHIPPING_DATABASE_URL: testDb.url, AUTH_DISABLED: "true" });
    const listening = await proc.waitForLog((l) => l.msg === "listening", "the listening log line");
    const client = newGrpcJsClient(`127.0.0.1:${listening.grpcPort as number}`);
    try {
      const viaGrpc = await unaryCall(client, AdminService.method.listFailedOutboxEvents, {});
      expect(viaGrpc.events).toEqual([]);
      const web = createClient(AdminService, createConnectTransport({ baseUrl: `http://127.0.0.1:${listening.webPort as number}`, httpVersion: "1.1" }));
      expect((await web.listFailedOutboxEvents({})).nextPageToken).toBe("");
      await expect(web.listDeadLetters({})).rejects.toMatchObject({ code: Code.Unavailable });
    } finally {
      client.close();
    }
  });

  it("exits 1 with a message naming the variable when the config is invalid", async () => {
    proc = startServiceProcess("services/shipping/main.js", { ...noNats, SHIPPING_PORT: "abc", SHIPPING_DATABASE_URL: testDb.url });
    const exit = await proc.exited;
    expect(exit.code, proc.output()).toBe(1);
    const fatal = proc.logs.find((l) => l.msg?.startsWith("failed to start"));
    expect(fatal?.msg).toContain("SHIPPING_PORT");
    expect(fatal?.msg).toContain('"abc"');
  });

  it("exits 1 naming the database when PostgreSQL cannot be reached", async () => {
    proc = startServiceProcess("services/shipping/main.js", {
      ...noNats,
      SHIPPING_PORT: "0",
      SHIPPING_WEB_PORT: "off",
      // Port 1 on loopback refuses at once, so the failure is fast and certain.
      SHIPPING_DATABASE_URL: "postgres://postgres@127.0.0.1:1/shipping",
      AUTH_DISABLED: "true",
    });
    const exit = await proc.exited;
    expect(exit.code, proc.output()).toBe(1);
    expect(proc.logs.find((l) => l.msg?.startsWith("failed to start"))?.msg).toMatch(/ECONNREFUSED|connect/i);
  });

  it("refuses to start without the TLS files that identify orders, naming them", async () => {
    proc = startServiceProcess("services/shipping/main.js", { ...noNats, SHIPPING_PORT: "0", SHIPPING_WEB_PORT: "off", SHIPPING_DATABASE_URL: testDb.url });
    const exit = await proc.exited;
    expect(exit.code, proc.output()).toBe(1);
    expect(proc.logs.find((l) => l.msg?.startsWith("failed to start"))?.msg).toMatch(/TLS_CERT_FILE, TLS_KEY_FILE and TLS_CA_FILE/);
  });

  it("with the dev CA's files serves TLS, takes CreateShipment from orders' certificate only, and the health probe CLI verifies it", async () => {
    const dir = await mkdtemp(join(tmpdir(), "shipping-certs-"));
    try {
      const certs = await ensureDevCertificates(dir, ["shipping", "orders"]);
      const tlsEnv = { TLS_CA_FILE: certs.caFile, TLS_CERT_FILE: certs.services.shipping!.certFile, TLS_KEY_FILE: certs.services.shipping!.keyFile };
      proc = startServiceProcess("services/shipping/main.js", { ...noNats, SHIPPING_PORT: "0", SHIPPING_WEB_PORT: "off", SHIPPING_DATABASE_URL: testDb.url, ...tlsEnv });
      const listening = await proc.waitForLog((l) => l.msg === "listening", "the listening log line");
      expect(listening).toMatchObject({ tls: true });
      const address = `127.0.0.1:${listening.grpcPort as number}`;
      const ca = readFileSync(certs.caFile);
      const asOrders = createGrpcJsTransport({ address, tls: { ca, identity: { cert: readFileSync(certs.services.orders!.certFile), key: readFileSync(certs.services.orders!.keyFile) } } });
      const anonymous = createGrpcJsTransport({ address, tls: { ca, identity: undefined } });
      try {
        const req = shipmentRequest();
        await expect(createClient(ShippingService, anonymous).createShipment(req)).rejects.toMatchObject({ code: Code.Unauthenticated });
        expect((await createClient(ShippingService, asOrders).createShipment(req)).shipment?.orderId).toBe(req.orderId);
      } finally {
        asOrders.close();
        anonymous.close();
      }
      // The compose healthcheck: the CLI reads the service's own TLS variables.
      const probe = (env: Record<string, string>) =>
        promisify(execFile)(process.execPath, [projectPath("dist/services/platform/rpc/health-probe.js"), address], { env: { ...process.env, HEALTH_PROBE_TIMEOUT_MS: "2000", ...env } }).then(
          (r) => r.stdout,
          (err: { stdout: string }) => err.stdout,
        );
      expect(await probe(tlsEnv)).toMatch(/: SERVING$/m);
      expect(await probe({})).toContain("error: UNAVAILABLE");
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
