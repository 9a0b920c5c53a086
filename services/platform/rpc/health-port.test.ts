import { afterEach, describe, expect, it } from "vitest";
import { Code } from "@connectrpc/connect";
import { ShippingService } from "../../../gen/shipping/v1/shipping_pb.js";
import { checkHealth, newGrpcJsClient, newHealthClient, unaryCall } from "../../../tests/support/grpc-js-clients.js";
import { testLogger } from "../../../tests/support/shipping-harness.js";
import { createTestCertificates } from "../../../tests/support/test-certificates.js";
import { waitFor } from "../../../tests/support/wait-for.js";
import { livenessService } from "./health.js";
import { startServiceHost, type ServiceHost } from "./service-host.js";
import { bindService } from "./service-impl.js";

// HEALTH_PORT: what the kubelet's native gRPC probe (plaintext only) asks while the gRPC port speaks TLS.
let host: ServiceHost | undefined;
afterEach(async () => {
  await host?.stop();
  host = undefined;
});

describe("the plaintext health-only port", () => {
  it("answers grpc.health.v1 in plaintext beside a TLS gRPC port: '' follows the checks, 'liveness' only the process, and it serves nothing else", async () => {
    const certs = await createTestCertificates();
    let databaseUp = true;
    host = await startServiceHost({
      logger: testLogger,
      host: "127.0.0.1",
      grpcPort: 0,
      healthPort: 0,
      services: [bindService(ShippingService, { getShipment: () => ({ shipment: { id: "s-1" } }) } as never)],
      healthChecks: [async () => databaseUp || Promise.reject(new Error("database down"))],
      healthIntervalMs: 50,
      tls: certs.tlsOf("shipping"),
    });
    expect(host.healthPort).toBeGreaterThan(0);
    const probe = newHealthClient(`127.0.0.1:${host.healthPort}`);
    try {
      expect(await checkHealth(probe, "")).toBe("SERVING");
      expect(await checkHealth(probe, livenessService)).toBe("SERVING");
      // A dependency down: out of rotation ("" NOT_SERVING), but alive (no restart).
      databaseUp = false;
      await waitFor(async () => (await checkHealth(probe, "")) === "NOT_SERVING", { what: "NOT_SERVING on the health port" });
      expect(await checkHealth(probe, livenessService)).toBe("SERVING");
      // Only health is served there: the service's methods are not reachable in plaintext.
      const err = await unaryCall(newGrpcJsClient(`127.0.0.1:${host.healthPort}`), ShippingService.method.getShipment, { id: "x" }).catch((e: unknown) => e);
      expect(err).toMatchObject({ code: Code.Unimplemented });
    } finally {
      probe.close();
    }
  });

  it("is not opened unless asked for", async () => {
    host = await startServiceHost({ logger: testLogger, host: "127.0.0.1", grpcPort: 0, services: [], healthChecks: [] });
    expect(host.healthPort).toBeUndefined();
  });
});
