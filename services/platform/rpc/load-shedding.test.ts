import { create } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { afterEach, describe, expect, it } from "vitest";
import { ShipmentSchema, ShippingService } from "../../../gen/shipping/v1/shipping_pb.js";
import { checkHealth, newHealthClient } from "../../../tests/support/grpc-js-clients.js";
import { failure, rpcPaths, type RpcPath } from "../../../tests/support/rpc-paths.js";
import { testLogger } from "../../../tests/support/shipping-harness.js";
import { waitFor } from "../../../tests/support/wait-for.js";
import { startServiceHost, type ServiceHost } from "./service-host.js";
import { bindService } from "./service-impl.js";

const id = "5f0c6c1e-7c43-4c5e-9d7e-2f2a1c7f9b10";

/** cancelShipment holds its slot until released; getShipment answers at once. */
function blockingShipping() {
  let release!: () => void;
  const released = new Promise<void>((resolve) => (release = resolve));
  const state = { running: 0 };
  const binding = bindService(ShippingService, {
    async cancelShipment(req) {
      state.running++;
      await released;
      return { shipment: create(ShipmentSchema, { id: req.id }) };
    },
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
  return { binding, state, release: () => release() };
}

let host: ServiceHost | undefined;
let paths: RpcPath[] = [];

afterEach(async () => {
  paths.forEach((p) => p.close());
  paths = [];
  await host?.stop();
  host = undefined;
});

describe("load shedding (MAX_IN_FLIGHT_CALLS)", () => {
  it("answers RESOURCE_EXHAUSTED at once beyond the limit, on every path, and admits calls again once slots free", async () => {
    const shipping = blockingShipping();
    host = await startServiceHost({ logger: testLogger, host: "127.0.0.1", grpcPort: 0, webPort: 0, healthChecks: [], services: [shipping.binding], limits: { maxInFlightCalls: 2 } });
    paths = rpcPaths(host.grpcPort, host.webPort!);
    const held = [paths[0]!, paths[4]!].map((p) => p.call(ShippingService.method.cancelShipment, { id }));
    await waitFor(() => shipping.state.running === 2, { what: "two calls holding both slots" });

    for (const path of paths) {
      const started = performance.now();
      const err = await failure(path.call(ShippingService.method.getShipment, { id }));
      expect(err.code, path.name).toBe(Code.ResourceExhausted);
      expect(err.message, path.name).toContain("busy");
      // Refused, not queued: no waiting for a slot.
      expect(performance.now() - started, path.name).toBeLessThan(500);
    }
    // Health is served beside the services, not through the shedder: probes see a busy server as serving.
    expect(await checkHealth(newHealthClient(`127.0.0.1:${host.grpcPort}`), "")).toBe("SERVING");

    shipping.release();
    await Promise.all(held);
    for (const path of paths) {
      const { shipment } = await path.call(ShippingService.method.getShipment, { id });
      expect(shipment?.id, path.name).toBe(id);
    }
  });
});
