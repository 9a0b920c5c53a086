import type * as grpc from "@grpc/grpc-js";
import type * as protoLoader from "@grpc/proto-loader";
import { toBinary, type DescFile, type DescService } from "@bufbuild/protobuf";
import { FileDescriptorProtoSchema } from "@bufbuild/protobuf/wkt";
import { ReflectionService } from "@grpc/reflection";
import { Health } from "../../../gen/grpc/health/v1/health_pb.js";
import { ServerReflection as ServerReflectionV1 } from "../../../gen/grpc/reflection/v1/reflection_pb.js";
import { ServerReflection as ServerReflectionV1alpha } from "../../../gen/grpc/reflection/v1alpha/reflection_pb.js";

/**
 * Serves grpc.reflection v1 and v1alpha from the generated descriptors, so grpcurl can list,
 * describe and invoke every service with no .proto files at hand. It lists exactly what the server
 * serves: the given services, health and reflection itself.
 */
export function addReflection(server: grpc.Server, services: readonly DescService[]): void {
  const served = [...services, Health, ServerReflectionV1, ServerReflectionV1alpha];
  const files = new Map<string, DescFile>();
  const collect = (file: DescFile) => {
    if (files.has(file.name)) return;
    files.set(file.name, file);
    file.dependencies.forEach(collect);
  };
  // Health and reflection come from buf's build of their protos: proto-loader's own descriptor of
  // health.proto names the map entry `Statuses`, and Go and Python descriptor pools reject that file.
  served.forEach((s) => collect(s.file));
  const fileDescriptorProtos = [...files.values()].map((f) => Buffer.from(toBinary(FileDescriptorProtoSchema, f.proto)));
  // @grpc/reflection reads a proto-loader package definition; only fileDescriptorProtos matter to it.
  const definition = { reflected: { fileDescriptorProtos } } as unknown as protoLoader.PackageDefinition;
  // Without `services` it lists every service of every file, and an imported file's service
  // (orders.proto imports shipping.proto) would be listed on a port that answers it UNIMPLEMENTED.
  new ReflectionService(definition, { services: served.map((s) => s.typeName) }).addToServer(server);
}
