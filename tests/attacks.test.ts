import { readFileSync } from "node:fs";
import * as http from "node:http";
import * as http2 from "node:http2";
import * as net from "node:net";
import { gzipSync } from "node:zlib";
import { create, toBinary } from "@bufbuild/protobuf";
import { Code } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CreateOrderRequestSchema, OrderService } from "../gen/orders/v1/orders_pb.js";
import * as grpc from "@grpc/grpc-js";
import { newGrpcJsClient, unaryCall } from "./support/grpc-js-clients.js";
import { validCreateOrder } from "./support/orders-fixture.js";
import { startServiceProcess, type ServiceProcess } from "./support/service-process.js";
import { createTestDatabase, type TestDatabase } from "./support/test-database.js";
import { createTestIssuer, type TestIssuer } from "./support/test-issuer.js";
import { waitFor } from "./support/wait-for.js";

// The attacks of issue #10, replayed against the compiled orders process (`npm test` builds dist/ first),
// whose RSS is read from /proc. Bounds stated here are what the defaults must keep:
// - 16 concurrent CreateOrders of 100,000 bad lines: each is INVALID_ARGUMENT with at most 21 violations,
//   orders' RSS grows by less than 100 MB (measured 28-30 MB; ~1 GB before), and GetOrder's p99 during
//   the attack stays under 1.5 s (measured 250-360 ms; 4.1 s before with only two such calls). Lists are
//   cut to 1001 elements before decoding (platform/rpc/list-caps.ts); without that, decoding alone took the
//   p99 to 2-2.4 s and RSS up by 75-95 MB.
// - a 50 MB body and a gzip bomb on the web port: RESOURCE_EXHAUSTED, RSS grows by less than 30 MB.
// - SIGTERM with slow clients connected: the process exits 0 within SHUTDOWN_GRACE_MS + 2 s.
let db: TestDatabase;
let issuer: TestIssuer;
let proc: ServiceProcess;
let grpcPort: number;
let webPort: number;
const graceMs = 1000;

beforeAll(async () => {
  db = await createTestDatabase("orders_attacks");
  // The attacker holds a valid customer token: the worst case, whose requests get past authentication.
  issuer = await createTestIssuer();
  proc = startServiceProcess("services/orders/main.js", {
    ...issuer.env,
    ORDERS_PORT: "0",
    ORDERS_WEB_PORT: "0",
    ORDERS_DATABASE_URL: db.url,
    // Nothing listens there: the event side keeps retrying, which this test does not need.
    NATS_URL: "nats://127.0.0.1:9",
    SHIPPING_ADDR: "127.0.0.1:9",
    SHUTDOWN_GRACE_MS: String(graceMs),
    LOG_LEVEL: "info",
  });
  const listening = await proc.waitForLog((l) => l.msg === "listening", "the listening log line");
  grpcPort = listening.grpcPort as number;
  webPort = listening.webPort as number;
}, 30_000);

afterAll(async () => {
  proc?.kill();
  await db?.drop();
  await issuer?.remove();
});

function rssMb(): number {
  const status = readFileSync(`/proc/${proc.pid}/status`, "utf8");
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)![1]) / 1024;
}

function p99(samples: number[]): number {
  const sorted = [...samples].sort((a, b) => a - b);
  return sorted[Math.ceil(sorted.length * 0.99) - 1]!;
}

describe("16 concurrent CreateOrders of 100,000 invalid lines", () => {
  it("are each a short INVALID_ARGUMENT, keep orders' RSS growth and other calls' p99 bounded", async () => {
    const client = newGrpcJsClient(`127.0.0.1:${grpcPort}`);
    try {
      const metadata = new grpc.Metadata();
      metadata.set("authorization", `Bearer ${await issuer.token("victim", { email: "ada@example.com" })}`);
      const { order } = await unaryCall(client, OrderService.method.createOrder, validCreateOrder({ customerId: "victim" }), { metadata });
      const get = () => unaryCall(client, OrderService.method.getOrder, { id: order!.id }, { metadata });
      for (let i = 0; i < 20; i++) await get(); // warm-up
      const before = rssMb();

      // Each line: a one-character sku and quantity 0 (invalid), ~7 bytes; 100,000 of them stay under 1 MiB.
      const bad = validCreateOrder({ items: Array.from({ length: 100_000 }, () => ({ sku: "x", quantity: 0, unitPriceCents: 1n })) });
      expect(toBinary(CreateOrderRequestSchema, bad).byteLength).toBeLessThan(1024 * 1024);
      let attacking = true;
      const latencies: number[] = [];
      const victim = (async () => {
        while (attacking) {
          const started = performance.now();
          await get();
          latencies.push(performance.now() - started);
        }
      })();
      // Encoded once and sent as bytes, so the test process's own CPU does not show up in the victim's latency.
      const body = toBinary(CreateOrderRequestSchema, bad);
      const authorization = `Bearer ${await issuer.token(bad.customerId, { email: bad.customerEmail })}`;
      const attacks = Array.from({ length: 16 }, (_, i) => (i % 2 === 0 ? rawGrpcCreateOrder(grpcPort, body, authorization) : rawConnectCreateOrder(webPort, body, authorization)));
      const errors = await Promise.all(attacks);
      attacking = false;
      await victim;
      const grown = rssMb() - before;

      for (const err of errors) {
        expect(err.code).toBe(Code.InvalidArgument);
        expect(err.message.length).toBeLessThan(2000);
        expect(err.message).toContain("at most 1000 items");
      }
      expect(latencies.length).toBeGreaterThan(0);
      expect(p99(latencies)).toBeLessThan(1500);
      console.log(`attack: orders RSS +${grown.toFixed(0)} MB, GetOrder p99 ${p99(latencies).toFixed(1)} ms over ${latencies.length} calls`);
      expect(grown).toBeLessThan(100);
      // The answers can overtake the process's log lines on their way through its stdout pipe.
      const refusals = () => proc.logs.filter((l) => l.msg === "rpc" && l.code === "InvalidArgument");
      await waitFor(() => refusals().length >= 16, { what: "16 InvalidArgument rpc log lines" });
      const logged = refusals();
      expect(logged.length).toBe(16);
      for (const line of logged) expect(JSON.stringify(line).length).toBeLessThan(2000);
    } finally {
      client.close();
    }
  }, 30_000);
});

/** CreateOrder over raw HTTP/2 gRPC; resolves with the status and message. */
function rawGrpcCreateOrder(port: number, message: Uint8Array, authorization: string): Promise<{ code: number; message: string }> {
  return new Promise((resolve, reject) => {
    const session = http2.connect(`http://127.0.0.1:${port}`);
    session.on("error", reject);
    const stream = session.request({ ":method": "POST", ":path": `/${OrderService.typeName}/CreateOrder`, "content-type": "application/grpc", te: "trailers", authorization });
    const done = (h: http2.IncomingHttpHeaders) => {
      session.close();
      resolve({ code: Number(h["grpc-status"]), message: decodeURIComponent(String(h["grpc-message"] ?? "")) });
    };
    stream.on("response", (h) => h["grpc-status"] !== undefined && done(h));
    stream.on("trailers", done);
    stream.on("error", reject);
    stream.resume();
    const head = Buffer.alloc(5);
    head.writeUInt32BE(message.length, 1);
    stream.end(Buffer.concat([head, message]));
  });
}

/** CreateOrder as a Connect unary call over HTTP/1.1; resolves with the code and message. */
async function rawConnectCreateOrder(port: number, message: Uint8Array, authorization: string): Promise<{ code: number; message: string }> {
  const res = await fetch(`http://127.0.0.1:${port}/${OrderService.typeName}/CreateOrder`, { method: "POST", headers: { "content-type": "application/proto", authorization }, body: message });
  const error = (await res.json()) as { code: string; message: string };
  return { code: error.code === "invalid_argument" ? Code.InvalidArgument : -1, message: error.message };
}

describe("oversized bodies on the web port", () => {
  const url = () => `http://127.0.0.1:${webPort}/${OrderService.typeName}/CreateOrder`;

  it("a 50 MB body is refused with RESOURCE_EXHAUSTED before it is read; RSS stays put", async () => {
    const before = rssMb();
    const status = await new Promise<number>((resolve, reject) => {
      const req = http.request(url(), { method: "POST", headers: { "content-type": "application/proto", "content-length": String(50 * 1024 * 1024) }, agent: false }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      req.on("error", reject);
      req.write(Buffer.alloc(1024 * 1024));
    });
    expect(status).toBe(429);
    expect(rssMb() - before).toBeLessThan(30);
  });

  it("a gzip bomb (64 MiB in ~65 KB) is refused, not inflated; RSS stays put", async () => {
    const message = toBinary(CreateOrderRequestSchema, create(CreateOrderRequestSchema, { customerId: "a".repeat(64 * 1024 * 1024) }));
    const bomb = gzipSync(message);
    const before = rssMb();
    const res = await fetch(url(), { method: "POST", headers: { "content-type": "application/proto", "content-encoding": "gzip" }, body: bomb });
    expect(res.status).toBe(429);
    expect(((await res.json()) as { code: string }).code).toBe("resource_exhausted");
    expect(rssMb() - before).toBeLessThan(30);
  });
});

describe("SIGTERM with slow clients connected", () => {
  it(`exits 0 within SHUTDOWN_GRACE_MS (${graceMs} ms) + 2 s`, async () => {
    const sockets: net.Socket[] = [];
    const open = (port: number, first?: string) =>
      new Promise<void>((resolve) => {
        const s = net.connect(port, "127.0.0.1", () => {
          if (first) s.write(first);
          resolve();
        });
        s.on("error", () => {});
        sockets.push(s);
      });
    // A body that trickles, a head that never ends, idle sockets on both ports, and gRPC calls whose
    // message never completes.
    await open(webPort, `POST /${OrderService.typeName}/CreateOrder HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 100000\r\n\r\n{`);
    await open(webPort, "POST / HTTP/1.1\r\nhost: x\r\n");
    for (let i = 0; i < 40; i++) await open(i % 2 ? webPort : grpcPort);
    const sessions = [grpcPort, webPort].map((port) => {
      const session = http2.connect(`http://127.0.0.1:${port}`);
      session.on("error", () => {});
      const stream = session.request({ ":method": "POST", ":path": `/${OrderService.typeName}/CreateOrder`, "content-type": "application/grpc", te: "trailers" });
      stream.on("error", () => {});
      stream.write(Buffer.from([0, 0, 0, 1, 0]));
      return session;
    });
    const trickle = setInterval(() => sockets[0]?.writable && sockets[0].write(" "), 100);
    try {
      const started = Date.now();
      const exit = await Promise.race([proc.stop("SIGTERM"), new Promise<never>((_r, reject) => setTimeout(() => reject(new Error(`no exit:\n${proc.output().split("\n").slice(-8).join("\n")}`)), graceMs + 5000))]);
      expect(exit.code).toBe(0);
      expect(Date.now() - started).toBeLessThan(graceMs + 2000);
    } finally {
      clearInterval(trickle);
      sockets.forEach((s) => s.destroy());
      sessions.forEach((s) => s.destroy());
    }
  });
});
