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

// Operator-only contracts: served by the services to admins on the inside (the console, the dlq CLI),
// never through the public gateway (tests/envoy-config.test.ts asserts no route reaches them).
const operatorOnly = ["admin/"];

const isUnder = (file: string, dirs: readonly string[]) => dirs.some((dir) => file.split(sep).join("/").startsWith(dir));

/** Every service declared in our own .proto files under `protoDir`, operator-only ones aside (the API the gateway must expose). */
export function protoServices(protoDir: string): ProtoService[] {
  return servicesOf(protoDir, (file) => !isUnder(file, vendored) && !isUnder(file, operatorOnly));
}

/** The operator-only services under `protoDir` (admin.v1): the gateway must not route them. */
export function operatorProtoServices(protoDir: string): ProtoService[] {
  return servicesOf(protoDir, (file) => isUnder(file, operatorOnly));
}

function servicesOf(protoDir: string, wanted: (file: string) => boolean): ProtoService[] {
  const root = new protobuf.Root();
  root.resolvePath = (_origin, target) => (existsSync(join(protoDir, target)) ? join(protoDir, target) : target);
  const files = readdirSync(protoDir, { recursive: true, encoding: "utf8" })
    .filter((file) => file.endsWith(".proto"))
    .filter(wanted);
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
