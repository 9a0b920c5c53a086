import { existsSync, readdirSync } from "node:fs";
import { join, sep } from "node:path";
import protobuf from "protobufjs";

/** A gRPC service declared in proto/, by full name, with its method names. */
export interface ProtoService {
  name: string;
  methods: string[];
  /** The methods that stream responses to a single request (e.g. WatchOrder). */
  serverStreaming?: string[];
}

// Vendored contracts: grpc/ holds health and reflection, which every process serves and the gateway
// routes by their own rule (platformServices in envoy-mesh-checks.ts), not by package.
const vendored = ["google/", "grpc/"];

/** Every service declared in our own .proto files under `protoDir` (the API the gateway must expose). */
export function protoServices(protoDir: string): ProtoService[] {
  const root = new protobuf.Root();
  root.resolvePath = (_origin, target) => (existsSync(join(protoDir, target)) ? join(protoDir, target) : target);
  const files = readdirSync(protoDir, { recursive: true, encoding: "utf8" })
    .filter((file) => file.endsWith(".proto"))
    .filter((file) => !vendored.some((dir) => file.split(sep).join("/").startsWith(dir)));
  root.loadSync(files.map((file) => join(protoDir, file)), { keepCase: true });
  root.resolveAll();
  return collect(root);
}

function collect(namespace: protobuf.NamespaceBase): ProtoService[] {
  return namespace.nestedArray.flatMap((nested) => {
    if (nested instanceof protobuf.Service) {
      const methods = nested.methodsArray;
      return [
        {
          name: nested.fullName.replace(/^\./, ""),
          methods: methods.map((method) => method.name),
          serverStreaming: methods.filter((method) => method.responseStream === true && method.requestStream !== true).map((method) => method.name),
        },
      ];
    }
    return nested instanceof protobuf.Namespace ? collect(nested) : [];
  });
}
