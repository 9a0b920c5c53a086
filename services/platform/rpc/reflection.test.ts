import { createFileRegistry, fromBinary } from "@bufbuild/protobuf";
import { FileDescriptorProtoSchema, type FileDescriptorProto } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ShippingService } from "../../../gen/shipping/v1/shipping_pb.js";
import { reflect, type ReflectionMessage } from "../../../tests/support/grpc-js-clients.js";
import { testLogger } from "../../../tests/support/shipping-harness.js";
import { startServiceHost, type ServiceHost } from "./service-host.js";
import { bindService } from "./service-impl.js";

// Reflection only needs descriptors, so handlers that are never called keep this file free of a database.
const unimplemented = () => {
  throw new ConnectError("not in this test", Code.Unimplemented);
};
let host: ServiceHost;
let address: string;

beforeAll(async () => {
  host = await startServiceHost({
    logger: testLogger,
    host: "127.0.0.1",
    grpcPort: 0,
    services: [
      bindService(ShippingService, {
        createShipment: unimplemented,
        getShipment: unimplemented,
        getShipmentByOrder: unimplemented,
        createShipments: unimplemented,
        updateShipmentStatus: unimplemented,
        cancelShipment: unimplemented,
      }),
    ],
    healthChecks: [],
  });
  address = `127.0.0.1:${host.grpcPort}`;
});

afterAll(async () => {
  await host?.stop();
});

function files(response: ReflectionMessage): FileDescriptorProto[] {
  const found = response.file_descriptor_response as { file_descriptor_proto: Buffer[] } | undefined;
  expect(found, JSON.stringify(response.error_response)).toBeDefined();
  return found!.file_descriptor_proto.map((bytes) => fromBinary(FileDescriptorProtoSchema, bytes));
}

describe.each(["v1", "v1alpha"] as const)("grpc.reflection.%s", (version) => {
  it("lists the served services and health", async () => {
    const res = await reflect(address, version, { list_services: "" });
    const names = (res.list_services_response as { service: Array<{ name: string }> }).service.map((s) => s.name);
    expect(names).toEqual(expect.arrayContaining(["shipping.v1.ShippingService", "grpc.health.v1.Health"]));
  });

  it.each(["shipping.v1.ShippingService", "shipping.v1.ShippingService.CreateShipment", "shipping.v1.Shipment"])(
    "describes the file containing %s, CreateShipment included, with every dependency",
    async (symbol) => {
      const found = files(await reflect(address, version, { file_containing_symbol: symbol }));
      const shipping = found.find((f) => f.name === "shipping/v1/shipping.proto");
      const service = shipping?.service.find((s) => s.name === "ShippingService");
      expect(service?.method.map((m) => m.name)).toEqual(["CreateShipment", "CreateShipments", "GetShipment", "GetShipmentByOrder", "CancelShipment", "UpdateShipmentStatus"]);
      expect(service?.method[0]).toMatchObject({
        inputType: ".shipping.v1.CreateShipmentRequest",
        outputType: ".shipping.v1.CreateShipmentResponse",
      });
      // A registry only builds when every import is present: what grpcurl needs to describe and invoke.
      const byName = new Map(found.map((f) => [f.name, f]));
      const registry = createFileRegistry(shipping!, (name) => byName.get(name));
      expect(registry.getMessage("shipping.v1.CreateShipmentRequest")?.fields.map((f) => f.name)).toEqual(["order_id", "address", "items", "customer_id"]);
      expect(registry.getMessage("google.protobuf.Timestamp")).toBeDefined();
    },
  );

  it("finds a file by name and the health service's file by symbol", async () => {
    const byName = files(await reflect(address, version, { file_by_filename: "shipping/v1/shipping.proto" }));
    expect(byName.map((f) => f.name)).toContain("shipping/v1/shipping.proto");
    const healthFiles = files(await reflect(address, version, { file_containing_symbol: "grpc.health.v1.Health" }));
    expect(healthFiles.flatMap((f) => f.service.map((s) => `${f.package}.${s.name}`))).toContain("grpc.health.v1.Health");
  });

  it("answers NOT_FOUND for an unknown symbol", async () => {
    const res = await reflect(address, version, { file_containing_symbol: "shipping.v1.NoSuchThing" });
    expect((res.error_response as { error_code: number }).error_code).toBe(Code.NotFound);
  });
});
