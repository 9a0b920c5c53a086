import type * as grpc from "@grpc/grpc-js";
import type * as protoLoader from "@grpc/proto-loader";
import { toBinary, type DescFile, type DescService } from "@bufbuild/protobuf";
import { FileDescriptorProtoSchema } from "@bufbuild/protobuf/wkt";
import { ReflectionService } from "@grpc/reflection";
import { Health } from "../../gen/grpc/health/v1/health_pb.js";

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
  // Health comes from buf's build of grpc/health/v1/health.proto: proto-loader's own descriptor of it
  // names the map entry `Statuses`, and Go and Python descriptor pools then reject the whole file.
  [...services, Health].forEach((s) => collect(s.file));
  const fileDescriptorProtos = [...files.values()].map((f) => Buffer.from(toBinary(FileDescriptorProtoSchema, f.proto)));
  // @grpc/reflection reads a proto-loader package definition; only fileDescriptorProtos matter to it.
  const definition = { reflected: { fileDescriptorProtos } } as unknown as protoLoader.PackageDefinition;
  new ReflectionService(definition).addToServer(server);
}
