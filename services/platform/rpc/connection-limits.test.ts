import * as http2 from "node:http2";
import * as net from "node:net";
import { create } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { afterEach, describe, expect, it } from "vitest";
import { ShipmentSchema, ShippingService } from "../../../gen/shipping/v1/shipping_pb.js";
import { testLogger } from "../../../tests/support/shipping-harness.js";
import { createTestCertificates } from "../../../tests/support/test-certificates.js";
import { waitFor } from "../../../tests/support/wait-for.js";
import type { ServerLimits } from "./server-limits.js";
import { startServiceHost, type ServiceHost } from "./service-host.js";
import { bindService } from "./service-impl.js";

// Seen from outside before: no idle, header or body timeouts, no connection limit, 4,294,967,295
// concurrent streams, 2,000 idle connections per port kept, slow clients stretching shutdown to 16 s.
let host: ServiceHost | undefined;
const opened: net.Socket[] = [];

afterEach(async () => {
  opened.forEach((s) => s.destroy());
  opened.length = 0;
  await host?.stop();
  host = undefined;
});

const neverAnswers = bindService(ShippingService, {
  // Stands for a slow handler: answers only when the call is cut.
  cancelShipment: (_req, ctx) => new Promise((_resolve, reject) => ctx.signal.addEventListener("abort", () => reject(ctx.signal.reason))),
  getShipment: (req) => ({ shipment: create(ShipmentSchema, { id: req.id }) }),
  createShipment: () => {
    throw new ConnectError("not in this test", Code.Unimplemented);
  },
  getShipmentByOrder: () => {
    throw new ConnectError("not in this test", Code.Unimplemented);
  },
  createShipments: () => {
    throw new ConnectError("not in this test", Code.Unimplemented);
  },
  updateShipmentStatus: () => {
    throw new ConnectError("not in this test", Code.Unimplemented);
  },
});

async function start(limits: Partial<ServerLimits>, shutdownGraceMs?: number): Promise<ServiceHost> {
  host = await startServiceHost({ logger: testLogger, host: "127.0.0.1", grpcPort: 0, webPort: 0, healthChecks: [], services: [neverAnswers], limits, shutdownGraceMs });
  return host;
}

/** Opens a TCP connection and tracks whether the server closed it. */
function connect(port: number, first?: string): Promise<{ socket: net.Socket; closed: () => boolean }> {
  return new Promise((resolve, reject) => {
    let closed = false;
    const socket = net.connect(port, "127.0.0.1", () => {
      if (first !== undefined) socket.write(first);
      resolve({ socket, closed: () => closed });
    });
    opened.push(socket);
    socket.on("error", () => {});
    socket.on("data", () => {});
    socket.once("close", () => (closed = true));
    socket.once("error", reject);
  });
}

describe("idle connections", () => {
  it("are closed after CONNECTION_IDLE_TIMEOUT_MS on both ports, silent ones and keep-alive ones alike", async () => {
    const h = await start({ idleTimeoutMs: 400, headersTimeoutMs: 400 });
    const request = `POST /${ShippingService.typeName}/GetShipment HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n{}`;
    const connections = await Promise.all([
      // 200 connections that never send a byte, per port.
      ...Array.from({ length: 200 }, () => connect(h.webPort!)),
      ...Array.from({ length: 200 }, () => connect(h.grpcPort, "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")),
      // An HTTP/1.1 keep-alive connection after one answered request.
      connect(h.webPort!, request),
    ]);
    const sessions = [h.grpcPort, h.webPort!].map((port) => http2.connect(`http://127.0.0.1:${port}`));
    const sessionClosed = sessions.map(() => false);
    sessions.forEach((s, i) => {
      s.on("error", () => {});
      s.once("close", () => (sessionClosed[i] = true));
    });
    const started = Date.now();
    await waitFor(() => connections.every((c) => c.closed()) && sessionClosed.every(Boolean), { what: "every idle connection closed", timeoutMs: 5000 });
    // Not before the idle timeout either (a margin for timer granularity).
    expect(Date.now() - started).toBeGreaterThanOrEqual(300);
    sessions.forEach((s) => s.destroy());
  });
});

describe("connections to the gRPC port that never send the HTTP/2 preface", () => {
  it("are closed after HEADERS_TIMEOUT_MS", async () => {
    const h = await start({ headersTimeoutMs: 300 });
    const silent = await Promise.all(Array.from({ length: 50 }, () => connect(h.grpcPort)));
    await waitFor(() => silent.every((c) => c.closed()), { what: "silent gRPC connections closed", timeoutMs: 5000 });
  });
});

describe("connections to the gRPC port that did set up HTTP/2", () => {
  it.each(["plaintext", "TLS"])("are not cut by HEADERS_TIMEOUT_MS (%s)", async (mode) => {
    const certs = mode === "TLS" ? await createTestCertificates() : undefined;
    host = await startServiceHost({
      logger: testLogger,
      host: "127.0.0.1",
      grpcPort: 0,
      healthChecks: [],
      services: [neverAnswers],
      limits: { headersTimeoutMs: 300 },
      tls: certs?.tlsOf("shipping"),
    });
    const session = http2.connect(`${certs ? "https" : "http"}://127.0.0.1:${host.grpcPort}`, certs ? { ca: certs.ca, servername: "shipping" } : {});
    let sessionClosed = false;
    session.on("error", () => {});
    session.once("close", () => (sessionClosed = true));
    await new Promise((resolve) => session.once("remoteSettings", resolve));
    // A silent connection opened after it is cut once the header timeout is over; by then the
    // session's own timer would have fired too, had it not been cleared.
    const silent = await connect(host.grpcPort);
    await waitFor(() => silent.closed(), { what: "the silent connection cut", timeoutMs: 5000 });
    expect(sessionClosed).toBe(false);
    session.destroy();
  });
});

describe("HTTP/2 clients that ping in a loop", () => {
  it("are sent GOAWAY ENHANCE_YOUR_CALM and cut, on both ports; one ping now and then is fine", async () => {
    const h = await start({});
    for (const port of [h.grpcPort, h.webPort!]) {
      const session = http2.connect(`http://127.0.0.1:${port}`);
      session.on("error", () => {});
      let goaway: number | undefined;
      session.once("goaway", (code) => (goaway = code));
      await new Promise<void>((resolve) => session.once("remoteSettings", () => resolve()));
      await new Promise<void>((resolve, reject) => session.ping((err) => (err ? reject(err) : resolve())));
      expect(session.closed, `port ${port} after one ping`).toBe(false);
      for (let i = 0; i < 5; i++) session.ping(() => {});
      await waitFor(() => session.destroyed || session.closed, { what: `port ${port} cutting the pinger` });
      expect(goaway, `port ${port}`).toBe(http2.constants.NGHTTP2_ENHANCE_YOUR_CALM);
      session.destroy();
    }
  });
});

describe("HTTP/2 streams per connection", () => {
  it("are limited by MAX_CONCURRENT_STREAMS (default 100) on both ports", async () => {
    const h = await start({});
    for (const port of [h.grpcPort, h.webPort!]) {
      const session = http2.connect(`http://127.0.0.1:${port}`);
      session.on("error", () => {});
      await new Promise<void>((resolve) => session.once("remoteSettings", () => resolve()));
      expect(session.remoteSettings.maxConcurrentStreams, `port ${port}`).toBe(100);
      session.destroy();
    }
  });
});

describe("the web port's connection cap (MAX_CONNECTIONS)", () => {
  it("closes connections beyond it on accept and keeps the others", async () => {
    const h = await start({ maxConnections: 5 });
    const connections: Array<{ closed: () => boolean }> = [];
    for (let i = 0; i < 10; i++) connections.push(await connect(h.webPort!));
    await waitFor(() => connections.filter((c) => c.closed()).length === 5, { what: "5 connections refused" });
    expect(connections.slice(0, 5).some((c) => c.closed())).toBe(false);
  });
});

describe("slow HTTP/1.1 clients", () => {
  it("that do not finish their headers within HEADERS_TIMEOUT_MS are cut", async () => {
    const h = await start({ headersTimeoutMs: 300 });
    const slow = await connect(h.webPort!, "POST / HTTP/1.1\r\nhost: x\r\n");
    const started = Date.now();
    // One header line every 100 ms: each keeps the socket busy, none completes the head.
    const drip = setInterval(() => slow.socket.writable && slow.socket.write("x-a: b\r\n"), 100);
    try {
      await waitFor(() => slow.closed(), { what: "slowloris connection closed", timeoutMs: 5000 });
    } finally {
      clearInterval(drip);
    }
    expect(Date.now() - started).toBeLessThan(3000);
  });

  it("that do not finish their body within REQUEST_TIMEOUT_MS are cut", async () => {
    const h = await start({ requestTimeoutMs: 500, headersTimeoutMs: 300 });
    const slow = await connect(h.webPort!, `POST /${ShippingService.typeName}/GetShipment HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 1000\r\n\r\n{`);
    const drip = setInterval(() => slow.socket.writable && slow.socket.write(" "), 100);
    try {
      await waitFor(() => slow.closed(), { what: "slow-body connection closed", timeoutMs: 5000 });
    } finally {
      clearInterval(drip);
    }
  });
});

describe("shutdown with slow clients", () => {
  it("ends within the grace period, whatever slow clients do", async () => {
    const graceMs = 500;
    const h = await start({}, graceMs);
    // A slow body upload, an unfinished head, silent sockets, and calls that never finish on both ports.
    await connect(h.webPort!, `POST /${ShippingService.typeName}/GetShipment HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 1000000\r\n\r\n{`);
    await connect(h.webPort!, "POST / HTTP/1.1\r\nhost: x\r\n");
    for (let i = 0; i < 50; i++) await connect(i % 2 ? h.webPort! : h.grpcPort);
    const streams: http2.ClientHttp2Stream[] = [];
    for (const port of [h.grpcPort, h.webPort!]) {
      const session = http2.connect(`http://127.0.0.1:${port}`);
      session.on("error", () => {});
      const stream = session.request({ ":method": "POST", ":path": `/${ShippingService.typeName}/CancelShipment`, "content-type": "application/grpc", te: "trailers" });
      stream.on("error", () => {});
      // An envelope that promises 100 bytes and never sends them: the call never even starts.
      stream.write(Buffer.from([0, 0, 0, 0, 100]));
      streams.push(stream);
    }
    const started = Date.now();
    await h.stop();
    host = undefined;
    const took = Date.now() - started;
    expect(took).toBeLessThan(graceMs + 1000);
    streams.forEach((s) => s.session?.destroy());
  });
});
