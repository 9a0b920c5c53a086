import type * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import { toBinary, type DescFile, type DescService } from "@bufbuild/protobuf";
import { FileDescriptorProtoSchema } from "@bufbuild/protobuf/wkt";
import { ReflectionService } from "@grpc/reflection";
import { protoPath as healthProtoPath } from "grpc-health-check";

/**
 * Serves grpc.reflection v1 and v1alpha from the generated descriptors, so grpcurl can list,
 * describe and invoke every service with no .proto files at hand.
 */
export function addReflection(server: grpc.Server, services: readonly DescService[]): void {
  const files = new Map<string, DescFile>();
  const collect = (file: DescFile) => {
    if (files.has(file.name)) return;
    files.set(file.name, file);
    file.dependencies.forEach(collect);
  };
  services.forEach((s) => collect(s.file));
  const fileDescriptorProtos = [...files.values()].map((f) => Buffer.from(toBinary(FileDescriptorProtoSchema, f.proto)));
  // @grpc/reflection reads a proto-loader package definition; only fileDescriptorProtos matter to it.
  const ours = Object.fromEntries(services.map((s) => [s.typeName, { fileDescriptorProtos }]));
  const health = protoLoader.loadSync(healthProtoPath);
  new ReflectionService({ ...health, ...ours } as unknown as protoLoader.PackageDefinition).addToServer(server);
}
