import { livenessService } from "./health.js";
import { create, createFileRegistry, equals, fromBinary, type DescFile, type DescService } from "@bufbuild/protobuf";
import {
  FileDescriptorProtoSchema,
  FileDescriptorSetSchema,
  type DescriptorProto,
  type FileDescriptorProto,
} from "@bufbuild/protobuf/wkt";
import { Code, ConnectError } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Health } from "../../../gen/grpc/health/v1/health_pb.js";
import { ServerReflection as ServerReflectionV1 } from "../../../gen/grpc/reflection/v1/reflection_pb.js";
import { ServerReflection as ServerReflectionV1alpha } from "../../../gen/grpc/reflection/v1alpha/reflection_pb.js";
import { OrderService } from "../../../gen/orders/v1/orders_pb.js";
import { ShippingService } from "../../../gen/shipping/v1/shipping_pb.js";
import { runBuf } from "../../../tests/support/buf-cli.js";
import { reflect } from "../../../tests/support/grpc-js-clients.js";
import { testLogger } from "../../../tests/support/shipping-harness.js";
import { startServiceHost, type ServiceHost } from "./service-host.js";
import { bindService, type ServiceBinding } from "./service-impl.js";

// Clients built on Go protobuf (buf curl, grpcurl) and Python's descriptor pool refuse a reflected
// file that protoc would not have written, and then cannot call anything in it. These tests use
// such a client, with nothing but reflection to go on.

const notCalled = () => {
  throw new ConnectError("not in this test", Code.Unimplemented);
};
/** Handlers for every method of a service, each answering UNIMPLEMENTED; reflection never calls them. */
function unimplemented(service: DescService): ServiceBinding {
  return bindService(service, Object.fromEntries(service.methods.map((m) => [m.localName, notCalled])) as never);
}

// What every port serves besides its own API.
const platform = [Health, ServerReflectionV1, ServerReflectionV1alpha];

// One call per service a port may list; `expected` is what buf curl prints on stdout or stderr.
const listServices = { body: '{"listServices": ""}', expected: /"listServicesResponse"/ };
const calls: Record<string, { method: string; body: string; expected: RegExp }> = {
  "orders.v1.OrderService": { method: "GetOrder", body: '{"id": "x"}', expected: /not in this test/ },
  "shipping.v1.ShippingService": { method: "GetShipment", body: '{"id": "x"}', expected: /not in this test/ },
  "grpc.health.v1.Health": { method: "Check", body: "{}", expected: /"status": "SERVING"/ },
  "grpc.reflection.v1.ServerReflection": { method: "ServerReflectionInfo", ...listServices },
  "grpc.reflection.v1alpha.ServerReflection": { method: "ServerReflectionInfo", ...listServices },
};

const ports = [
  // orders.proto imports shipping.proto for ShippingAddress, but this port does not serve ShippingService.
  { name: "orders", services: [OrderService] },
  { name: "shipping", services: [ShippingService] },
  { name: "notifier (no API of its own)", services: [] },
];
const hosts = new Map<string, ServiceHost>();

beforeAll(async () => {
  for (const port of ports) {
    const host = await startServiceHost({
      logger: testLogger,
      host: "127.0.0.1",
      grpcPort: 0,
      services: port.services.map(unimplemented),
      healthChecks: [],
    });
    hosts.set(port.name, host);
  }
});

afterAll(async () => {
  await Promise.all([...hosts.values()].map((host) => host.stop()));
});

const url = (port: string) => `http://127.0.0.1:${hosts.get(port)!.grpcPort}`;

/** buf curl over plaintext HTTP/2 with the schema from server reflection only. */
function bufCurl(reflectProtocol: string, ...args: string[]) {
  return runBuf(["curl", "--protocol", "grpc", "--http2-prior-knowledge", "--reflect-protocol", reflectProtocol, ...args]);
}

/** Every file a client gathers by reflection: the files of each listed service, then each import by name. */
async function reflectedFiles(address: string, services: readonly string[]): Promise<FileDescriptorProto[]> {
  const files = new Map<string, FileDescriptorProto>();
  const add = (response: Record<string, unknown>) => {
    const found = response.file_descriptor_response as { file_descriptor_proto: Buffer[] } | undefined;
    expect(found, JSON.stringify(response.error_response)).toBeDefined();
    for (const bytes of found!.file_descriptor_proto) {
      const file = fromBinary(FileDescriptorProtoSchema, bytes);
      files.set(file.name, file);
    }
  };
  for (const service of services) add(await reflect(address, "v1", { file_containing_symbol: service }));
  for (const name of [...files.values()].flatMap((f) => f.dependency)) add(await reflect(address, "v1", { file_by_filename: name }));
  return [...files.values()];
}

/** The files in the order a descriptor pool takes them, each after its imports; every import must be there. */
function importsFirst(files: readonly FileDescriptorProto[]): FileDescriptorProto[] {
  const byName = new Map(files.map((f) => [f.name, f]));
  const ordered = new Set<FileDescriptorProto>();
  const visit = (name: string, importer: string) => {
    const file = byName.get(name);
    expect(file, `${name}, imported by ${importer}, was not reflected`).toBeDefined();
    if (ordered.has(file!)) return;
    file!.dependency.forEach((dep) => visit(dep, name));
    ordered.add(file!);
  };
  files.forEach((f) => visit(f.name, "a listed service"));
  return [...ordered];
}

/** Map-entry messages whose name is not what protoc gives them (`statuses` -> `StatusesEntry`). */
function misnamedMapEntries(file: FileDescriptorProto): string[] {
  const walk = (message: DescriptorProto, scope: string): string[] =>
    message.nestedType.flatMap((nested) => {
      const inner = walk(nested, `${scope}.${nested.name}`);
      if (!nested.options?.mapEntry) return inner;
      // Matched by last name part: a descriptor protoc did not write may hold relative type names.
      const field = message.field.find((f) => f.typeName.split(".").pop() === nested.name);
      const expected = `${(field?.name ?? "?").replace(/(^|_)(.)/g, (_, __, c: string) => c.toUpperCase())}Entry`;
      return nested.name === expected ? inner : [`${scope}.${nested.name} (expected ${expected})`, ...inner];
    });
  return file.messageType.flatMap((m) => walk(m, `${file.package}.${m.name}`));
}

describe.each(ports)("the $name port", (port) => {
  const served = [...port.services, ...platform];
  const expected = served.map((s) => s.typeName).sort();

  describe.each(["grpc-v1", "grpc-v1alpha"])("through %s reflection", (protocol) => {
    it("lists exactly what the port serves", async () => {
      const result = await bufCurl(protocol, "--list-services", url(port.name));
      expect(result.stderr).toBe("");
      expect(result.stdout.trim().split("\n").sort()).toEqual(expected);
    });

    it.each(expected)("calls %s with no schema but reflection", async (service) => {
      const call = calls[service]!;
      const result = await bufCurl(protocol, "-d", call.body, `${url(port.name)}/${service}/${call.method}`);
      expect(result.stderr).not.toMatch(/failed to find|failed to resolve|invalid/i);
      expect(`${result.stdout}${result.stderr}`).toMatch(call.expected);
    });
  });

  it("lists Health.List and answers it with every status", async () => {
    const result = await bufCurl("grpc-v1", "-d", "{}", `${url(port.name)}/grpc.health.v1.Health/List`);
    expect(result.stderr).toBe("");
    const statuses = (JSON.parse(result.stdout) as { statuses: Record<string, { status: string }> }).statuses;
    // "" and each service follow the checks; "liveness" is the process alone (liveness probes).
    expect(Object.keys(statuses).sort()).toEqual(["", livenessService, ...port.services.map((s) => s.typeName)].sort());
    expect(statuses[livenessService]?.status).toBe("SERVING");
  });

  it("reflects files that build in a descriptor pool, with map entries named as protoc names them", async () => {
    const files = await reflectedFiles(`127.0.0.1:${hosts.get(port.name)!.grpcPort}`, expected);
    expect(files.flatMap(misnamedMapEntries)).toEqual([]);
    const registry = createFileRegistry(create(FileDescriptorSetSchema, { file: importsFirst(files) }));
    for (const service of expected) expect(registry.getService(service), service).toBeDefined();
    expect(registry.getMessage("grpc.health.v1.HealthListResponse")?.field.statuses?.fieldKind).toBe("map");
  });

  it("reflects every file exactly as buf generated it into gen/", async () => {
    // @grpc/reflection re-encodes each file with protobufjs; nothing may be lost on the way.
    const generated = new Map<string, DescFile>();
    const collect = (file: DescFile) => {
      generated.set(file.proto.name, file);
      file.dependencies.forEach(collect);
    };
    served.forEach((s) => collect(s.file));
    const files = await reflectedFiles(`127.0.0.1:${hosts.get(port.name)!.grpcPort}`, expected);
    expect(files.map((f) => f.name).sort()).toEqual([...generated.keys()].sort());
    for (const file of files) expect(equals(FileDescriptorProtoSchema, file, generated.get(file.name)!.proto), file.name).toBe(true);
  });
});
