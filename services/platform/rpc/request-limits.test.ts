import * as http from "node:http";
import * as http2 from "node:http2";
import { gzipSync } from "node:zlib";
import { create, toBinary } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { GetShipmentRequestSchema, ShipmentSchema, ShippingService } from "../../../gen/shipping/v1/shipping_pb.js";
import { failure, rpcPaths, type RpcPath } from "../../../tests/support/rpc-paths.js";
import { testLogger } from "../../../tests/support/shipping-harness.js";
import { defaultServerLimits } from "./server-limits.js";
import { startServiceHost, type ServiceHost } from "./service-host.js";
import { bindService } from "./service-impl.js";

// The web ports once accepted 50 MB bodies (four of them: 945 MB RSS) and inflated a 65 KB gzip bomb to
// 64 MB. Every port and protocol now refuses a request over MAX_REQUEST_BYTES (default 1 MiB), counted
// after decompression, with RESOURCE_EXHAUSTED, and without reading the rest of it.
let host: ServiceHost;
let paths: RpcPath[];
let handled = 0;

beforeAll(async () => {
  const binding = bindService(ShippingService, {
    getShipment: (req) => {
      handled++;
      return { shipment: create(ShipmentSchema, { id: req.id.slice(0, 10) }) };
    },
    cancelShipment: unimplemented,
    createShipment: unimplemented,
    getShipmentByOrder: unimplemented,
    createShipments: unimplemented,
    updateShipmentStatus: unimplemented,
  });
  host = await startServiceHost({ logger: testLogger, host: "127.0.0.1", grpcPort: 0, webPort: 0, healthChecks: [], services: [binding] });
  paths = rpcPaths(host.grpcPort, host.webPort!);
});

afterAll(async () => {
  paths?.forEach((p) => p.close());
  await host?.stop();
});

function unimplemented(): never {
  throw new ConnectError("not in this test", Code.Unimplemented);
}

const path = `/${ShippingService.typeName}/GetShipment`;
const limit = defaultServerLimits.maxRequestBytes;
const mib = 1024 * 1024;
// 64 MiB of "a" as the id of a GetShipmentRequest: ~65 KB gzipped.
const bombMessage = () => toBinary(GetShipmentRequestSchema, create(GetShipmentRequestSchema, { id: "a".repeat(64 * mib) }));
const envelope = (flags: number, payload: Uint8Array) => {
  const head = Buffer.alloc(5);
  head.writeUInt8(flags, 0);
  head.writeUInt32BE(payload.length, 1);
  return Buffer.concat([head, payload]);
};

/** RSS growth of this process (the server runs in it) while fn runs, in MiB. */
async function rssGrowthMib(fn: () => Promise<void>): Promise<number> {
  const before = process.memoryUsage().rss;
  await fn();
  return (process.memoryUsage().rss - before) / mib;
}

describe("requests over MAX_REQUEST_BYTES", () => {
  it("are RESOURCE_EXHAUSTED on every path, and one just under the limit is served", async () => {
    for (const p of paths) {
      const err = await failure(p.call(ShippingService.method.getShipment, { id: "x".repeat(limit + 1) }));
      expect(err.code, p.name).toBe(Code.ResourceExhausted);
      const { shipment } = await p.call(ShippingService.method.getShipment, { id: "y".repeat(limit - 16) });
      expect(shipment?.id, p.name).toBe("yyyyyyyyyy");
    }
  });

  it.each([
    ["with a Content-Length", true],
    ["chunked, without a Content-Length", false],
  ])("a 50 MB Connect body on the web port (%s) is refused before it is read, and RSS stays put", async (_what, withLength) => {
    const before = handled;
    let sent = 0;
    let status = 0;
    const grown = await rssGrowthMib(
      () =>
        new Promise<void>((resolve, reject) => {
          const total = 50 * mib;
          const headers: Record<string, string> = { "content-type": "application/proto" };
          if (withLength) headers["content-length"] = String(total);
          const req = http.request(`http://127.0.0.1:${host.webPort}${path}`, { method: "POST", headers, agent: false }, (res) => {
            status = res.statusCode ?? 0;
            res.resume();
            res.once("end", () => {
              req.destroy();
              resolve();
            });
          });
          // The server closes the connection once it answered: writes after that fail, which is the point.
          req.on("error", () => resolve());
          const chunk = Buffer.alloc(mib, 0x0a);
          const pump = () => {
            while (sent < total && status === 0) {
              sent += chunk.length;
              if (!req.write(chunk)) return void req.once("drain", pump);
            }
            if (status === 0) req.end();
          };
          setTimeout(() => reject(new Error("no answer within 10 s")), 10_000).unref();
          pump();
        }),
    );
    expect(status).toBe(429); // Connect's HTTP status of resource_exhausted
    expect(sent).toBeLessThan(50 * mib);
    expect(grown).toBeLessThan(30);
    expect(handled).toBe(before);
  });

  it("a gzip bomb in a Connect body on the web port is refused, not inflated", async () => {
    const bomb = gzipSync(bombMessage());
    expect(bomb.length).toBeLessThan(200_000);
    let res!: { status: number; body: string };
    const grown = await rssGrowthMib(async () => {
      res = await post(`http://127.0.0.1:${host.webPort}${path}`, { "content-type": "application/proto", "content-encoding": "gzip" }, bomb);
    });
    expect(res.status).toBe(429);
    expect(res.body).toContain("resource_exhausted");
    expect(grown).toBeLessThan(30);
  });

  it.each([
    ["the gRPC port", () => host.grpcPort],
    ["the web port (h2c)", () => host.webPort!],
  ])("a gzip bomb in a gRPC message on %s is RESOURCE_EXHAUSTED", async (_where, port) => {
    const frame = envelope(1, gzipSync(bombMessage()));
    let status = "";
    const grown = await rssGrowthMib(async () => {
      status = await grpcStatusOf(port(), { "grpc-encoding": "gzip" }, frame);
    });
    expect(status).toBe(String(Code.ResourceExhausted));
    expect(grown).toBeLessThan(30);
  });

  it("a gzip bomb in a gRPC-Web message on the web port is RESOURCE_EXHAUSTED", async () => {
    const frame = envelope(1, gzipSync(bombMessage()));
    const res = await post(`http://127.0.0.1:${host.webPort}${path}`, { "content-type": "application/grpc-web+proto", "grpc-encoding": "gzip" }, frame);
    const status = res.headers["grpc-status"] ?? /grpc-status:\s*(\d+)/.exec(res.body)?.[1];
    expect(status).toBe(String(Code.ResourceExhausted));
  });

  it("a gRPC length prefix of 4 GiB is refused at once on both ports, without waiting for the bytes", async () => {
    const head = Buffer.from([0, 0xff, 0xff, 0xff, 0xff]);
    for (const port of [host.grpcPort, host.webPort!]) {
      expect(await grpcStatusOf(port, {}, head, { endStream: false })).toBe(String(Code.ResourceExhausted));
    }
  });
});

function post(url: string, headers: Record<string, string>, body: Uint8Array): Promise<{ status: number; body: string; headers: http.IncomingHttpHeaders }> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method: "POST", headers: { ...headers, "content-length": String(body.length) }, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString("latin1"), headers: res.headers }));
    });
    req.on("error", reject);
    req.end(body);
  });
}

/** Sends one gRPC request over raw HTTP/2 and returns its grpc-status (from headers or trailers). */
function grpcStatusOf(port: number, headers: Record<string, string>, body: Uint8Array, { endStream = true } = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    const session = http2.connect(`http://127.0.0.1:${port}`);
    session.on("error", reject);
    const stream = session.request({ ":method": "POST", ":path": path, "content-type": "application/grpc", te: "trailers", ...headers });
    const done = (status: unknown) => {
      session.destroy();
      resolve(String(status));
    };
    stream.on("response", (h) => h["grpc-status"] !== undefined && done(h["grpc-status"]));
    stream.on("trailers", (t) => done(t["grpc-status"]));
    stream.on("error", reject);
    stream.resume();
    stream.write(body);
    if (endStream) stream.end();
    setTimeout(() => reject(new Error("no grpc-status within 5 s")), 5000).unref();
  });
}
