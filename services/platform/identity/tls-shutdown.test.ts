import * as net from "node:net";
import { beforeAll, describe, expect, it } from "vitest";
import { createTestCertificates, type TestCertificates } from "../../../tests/support/test-certificates.js";
import { ShippingService } from "../../../gen/shipping/v1/shipping_pb.js";
import { testLogger } from "../../../tests/support/shipping-harness.js";
import { defaultServerLimits } from "../rpc/server-limits.js";
import { startServiceHost } from "../rpc/service-host.js";
import { bindService } from "../rpc/service-impl.js";
import { startWebServer } from "../rpc/web-server.js";

let certs: TestCertificates;
beforeAll(async () => {
  certs = await createTestCertificates();
});

describe("shutdown with TLS listeners", () => {
  it("a client stalled before the TLS handshake on the web port cannot stretch shutdown past the grace period", async () => {
    const server = await startWebServer({
      host: "127.0.0.1",
      port: 0,
      services: [bindService(ShippingService, {} as never)],
      corsOrigins: [],
      limits: defaultServerLimits,
      shutdownSignal: new AbortController().signal,
      tls: certs.tlsOf("shipping"),
    });
    expect(server.tls).toBe(true);
    const stalled = net.connect(server.port, "127.0.0.1");
    await new Promise((resolve) => stalled.once("connect", resolve));
    const closedByServer = new Promise((resolve) => stalled.once("close", resolve));
    const started = Date.now();
    await server.close(300);
    await closedByServer;
    // tls.Server waits for every connection; the grace period (300 ms) bounds it, not the 120 s handshake timeout.
    expect(Date.now() - started).toBeLessThan(2000);
  });

  it("nor on the gRPC port: stop() returns once the grace period is over", async () => {
    const host = await startServiceHost({ logger: testLogger, host: "127.0.0.1", grpcPort: 0, services: [], healthChecks: [], tls: certs.tlsOf("shipping"), shutdownGraceMs: 300 });
    const stalled = net.connect(host.grpcPort, "127.0.0.1");
    await new Promise((resolve) => stalled.once("connect", resolve));
    try {
      const started = Date.now();
      await host.stop();
      expect(Date.now() - started).toBeLessThan(2000);
    } finally {
      stalled.destroy();
    }
  });
});
