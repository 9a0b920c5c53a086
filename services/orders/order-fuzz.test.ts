import * as http from "node:http";
import * as http2 from "node:http2";
import { create, toBinary } from "@bufbuild/protobuf";
import { Code } from "@connectrpc/connect";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CreateOrderRequestSchema, OrderService } from "../../gen/orders/v1/orders_pb.js";
import { checkHealth, newHealthClient } from "../../tests/support/grpc-js-clients.js";
import { serveOrders, validCreateOrder, type ServedOrders } from "../../tests/support/orders-fixture.js";
import type { CallFailure, RpcPath } from "../../tests/support/rpc-paths.js";
import type { ServiceHost } from "../platform/rpc/index.js";

// Property-based fuzzing of OrderService through a real served host (PostgreSQL behind it): random
// inputs on every client path, and random or broken bytes on every wire protocol. Whatever comes in, the
// answer is a status that blames the caller (or success), never INTERNAL or UNKNOWN, and the server
// keeps serving with bounded memory. Runs are bounded in count (seeded per run by fast-check).
let served: ServedOrders;
let host: ServiceHost;
let paths: RpcPath[];

beforeAll(async () => {
  served = await serveOrders();
  ({ host, paths } = served);
});

afterAll(async () => served?.close());

/** Codes that say the server, not the caller, is at fault. */
const serverFaults = new Set([Code.Internal, Code.Unknown, Code.DataLoss]);

async function outcome(call: Promise<unknown>): Promise<Code | "ok"> {
  try {
    await call;
    return "ok";
  } catch (err) {
    const failure = err as CallFailure;
    if (typeof failure.code !== "number") throw err;
    return failure.code;
  }
}

const text = fc.oneof(
  fc.string({ maxLength: 80 }),
  fc.string({ unit: "binary", maxLength: 40 }),
  fc.constantFrom("", " ", "a\u0000b", "\ud800", "\uffff", "x".repeat(300), "ada@example.com", "EUR", "GB"),
);
const int32 = fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 });
const uint32 = fc.integer({ min: 0, max: 2 ** 32 - 1 });
const int64 = fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n });
const item = fc.record({ sku: text, quantity: int32, unitPriceCents: int64 });
const address = fc.option(fc.record({ name: text, line1: text, line2: text, city: text, postalCode: text, country: text }), { nil: undefined });
const pathIndex = () => fc.integer({ min: 0, max: paths.length - 1 });

describe("RPC inputs on every client path", () => {
  it("CreateOrder: never a server fault", async () => {
    await fc.assert(
      fc.asyncProperty(
        pathIndex(),
        fc.record({ customerId: text, customerEmail: text, currency: text, requestId: text, items: fc.oneof(fc.array(item, { maxLength: 20 }), fc.constant(Array.from({ length: 1001 }, () => ({ sku: "S", quantity: 1, unitPriceCents: 1n })))), shippingAddress: address }),
        async (i, req) => {
          const code = await outcome(paths[i]!.call(OrderService.method.createOrder, req));
          expect(serverFaults.has(code as Code), `${paths[i]!.name}: ${String(code)}`).toBe(false);
        },
      ),
      { numRuns: 80 },
    );
  }, 30_000);

  it("ListOrders, GetOrder and CancelOrder: never a server fault", async () => {
    await fc.assert(
      fc.asyncProperty(pathIndex(), text, int32, text, text, async (i, customerId, pageSize, token, reason) => {
        const path = paths[i]!;
        for (const code of [
          await outcome(path.call(OrderService.method.listOrders, { customerId, pageSize, pageToken: token })),
          await outcome(path.call(OrderService.method.getOrder, { id: token })),
          await outcome(path.call(OrderService.method.cancelOrder, { id: customerId, reason })),
        ]) {
          expect(serverFaults.has(code as Code), `${path.name}: ${String(code)}`).toBe(false);
        }
      }),
      { numRuns: 60 },
    );
  }, 30_000);
});

const rpc = `/${OrderService.typeName}/CreateOrder`;
const valid = toBinary(CreateOrderRequestSchema, validCreateOrder());
const envelope = (payload: Uint8Array, length = payload.length, flags = 0) => {
  const head = Buffer.alloc(5);
  head.writeUInt8(flags, 0);
  head.writeUInt32BE(length, 1);
  return Buffer.concat([head, payload]);
};
/** A valid CreateOrderRequest whose customer_id bytes are replaced: invalid UTF-8, NUL and so on. */
const withCustomerIdBytes = (bytes: Uint8Array) =>
  Buffer.concat([Buffer.from(toBinary(CreateOrderRequestSchema, create(CreateOrderRequestSchema, { ...validCreateOrder(), customerId: "" }))), Buffer.from([0x0a, bytes.length]), bytes]);

/** Bodies: random bytes, truncated or lying envelopes, huge length prefixes, invalid UTF-8, NUL. */
const body = fc.oneof(
  fc.uint8Array({ maxLength: 512 }).map((b) => ({ what: "random bytes", grpc: envelope(b), raw: Buffer.from(b) })),
  fc.uint8Array({ maxLength: 512 }).map((b) => ({ what: "random envelope", grpc: Buffer.from(b), raw: Buffer.from(b) })),
  fc.integer({ min: 0, max: valid.length - 1 }).map((n) => ({ what: "truncated message", grpc: envelope(valid.subarray(0, n)), raw: Buffer.from(valid.subarray(0, n)) })),
  fc.integer({ min: 1, max: 4 + valid.length }).map((n) => ({ what: "truncated frame", grpc: envelope(valid).subarray(0, n), raw: Buffer.from(valid) })),
  fc.integer({ min: valid.length + 1, max: 2 ** 32 - 1 }).map((n) => ({ what: "length prefix too large", grpc: envelope(valid, n), raw: Buffer.from(valid) })),
  uint32.map((n) => ({ what: "compressed flag without encoding", grpc: envelope(valid, valid.length, 1 + (n % 2) * 2), raw: Buffer.from(valid) })),
  fc.uint8Array({ minLength: 1, maxLength: 100 }).map((b) => ({ what: "customer_id bytes", grpc: envelope(withCustomerIdBytes(b)), raw: withCustomerIdBytes(b) })),
  fc.constantFrom(Buffer.from([0xff, 0xfe]), Buffer.from([0x61, 0x00, 0x62]), Buffer.from([0xed, 0xa0, 0x80])).map((b) => ({ what: "bad UTF-8 / NUL", grpc: envelope(withCustomerIdBytes(b)), raw: withCustomerIdBytes(b) })),
);

function grpcStatus(port: number, frame: Uint8Array): Promise<number> {
  return grpcAnswer(port, frame).then((a) => a.status);
}

function grpcAnswer(port: number, frame: Uint8Array): Promise<{ status: number; message: string }> {
  return new Promise((resolve, reject) => {
    const session = http2.connect(`http://127.0.0.1:${port}`);
    session.on("error", reject);
    const stream = session.request({ ":method": "POST", ":path": rpc, "content-type": "application/grpc", te: "trailers" });
    const done = (h: http2.IncomingHttpHeaders) => {
      session.close();
      resolve({ status: Number(h["grpc-status"]), message: String(h["grpc-message"] ?? "") });
    };
    stream.on("response", (h) => h["grpc-status"] !== undefined && done(h));
    stream.on("trailers", done);
    stream.on("error", reject);
    stream.resume();
    stream.end(frame);
  });
}

function http1(port: number, contentType: string, payload: Uint8Array): Promise<{ status: number; body: string; headers: http.IncomingHttpHeaders }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: "127.0.0.1", port, path: rpc, method: "POST", headers: { "content-type": contentType, "content-length": payload.length }, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString("latin1"), headers: res.headers }));
    });
    req.on("error", reject);
    req.end(payload);
  });
}

describe("raw bytes on every wire protocol", () => {
  it("gRPC (both ports), gRPC-Web and Connect (binary and JSON): never a server fault or crash, bounded memory", async () => {
    const before = process.memoryUsage().rss;
    await fc.assert(
      fc.asyncProperty(body, async ({ what, grpc, raw }) => {
        for (const port of [host.grpcPort, host.webPort!]) {
          const status = await grpcStatus(port, grpc);
          expect(serverFaults.has(status), `${what} over gRPC to ${port}: ${status}`).toBe(false);
        }
        const web = await http1(host.webPort!, "application/grpc-web+proto", grpc);
        const webStatus = Number(web.headers["grpc-status"] ?? /grpc-status:\s*(\d+)/.exec(web.body)?.[1]);
        expect(serverFaults.has(webStatus), `${what} over gRPC-Web: ${webStatus} ${web.body.slice(0, 200)}`).toBe(false);
        for (const contentType of ["application/proto", "application/json"]) {
          const res = await http1(host.webPort!, contentType, raw);
          expect(res.status, `${what} as ${contentType}: ${res.body.slice(0, 200)}`).not.toBe(500);
          expect(res.body, `${what} as ${contentType}`).not.toMatch(/"code":"(internal|unknown|data_loss)"/);
        }
      }),
      { numRuns: 120 },
    );
    expect(await checkHealth(newHealthClient(`127.0.0.1:${host.grpcPort}`), "")).toBe("SERVING");
    expect((process.memoryUsage().rss - before) / 1024 / 1024).toBeLessThan(150);
  }, 60_000);
});
