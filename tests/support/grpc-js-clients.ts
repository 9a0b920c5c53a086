import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import { create, fromBinary, toBinary, type DescMessage, type DescMethodUnary, type MessageInitShape, type MessageShape } from "@bufbuild/protobuf";
import { anyUnpack } from "@bufbuild/protobuf/wkt";
import { protoPath as healthProtoPath } from "grpc-health-check";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { BadRequestSchema, type BadRequest } from "../../gen/google/rpc/error_details_pb.js";
import { StatusSchema, type Status } from "../../gen/google/rpc/status_pb.js";

/** A plain grpc-js channel to a plaintext server; close() it when done. */
export function newGrpcJsClient(address: string): grpc.Client {
  return new grpc.Client(address, grpc.credentials.createInsecure());
}

/** Options of one raw unary call. */
export interface UnaryCallOptions {
  /** Deadline relative to now. */
  timeoutMs?: number;
  metadata?: grpc.Metadata;
}

/**
 * One unary call over grpc-js with messages encoded by protobuf-es (toBinary/fromBinary), the way a
 * client with no generated grpc-js stubs talks to the server. Rejects with grpc.ServiceError.
 */
export function unaryCall<I extends DescMessage, O extends DescMessage>(
  client: grpc.Client,
  method: DescMethodUnary<I, O>,
  request: MessageInitShape<I>,
  options: UnaryCallOptions = {},
): Promise<MessageShape<O>> {
  const callOptions: grpc.CallOptions = options.timeoutMs === undefined ? {} : { deadline: Date.now() + options.timeoutMs };
  return new Promise((resolve, reject) => {
    client.makeUnaryRequest(
      `/${method.parent.typeName}/${method.name}`,
      (msg: MessageShape<I>) => Buffer.from(toBinary(method.input, msg)),
      (buf: Buffer) => fromBinary(method.output, buf),
      create(method.input, request),
      options.metadata ?? new grpc.Metadata(),
      callOptions,
      (err, res) => (err ? reject(err) : resolve(res!)),
    );
  });
}

/** Decodes grpc-status-details-bin (google.rpc.Status) from a grpc-js error, if the server sent it. */
export function grpcStatusDetails(err: grpc.ServiceError): Status | undefined {
  const [bin] = err.metadata?.get("grpc-status-details-bin") ?? [];
  return bin instanceof Buffer ? fromBinary(StatusSchema, bin) : undefined;
}

/** The google.rpc.BadRequest detail of a grpc-js error, if any. */
export function grpcBadRequest(err: grpc.ServiceError): BadRequest | undefined {
  for (const any of grpcStatusDetails(err)?.details ?? []) {
    const badRequest = anyUnpack(any, BadRequestSchema);
    if (badRequest) return badRequest;
  }
  return undefined;
}

/** A grpc.health.v1.Health client as grpc-js builds it from the proto that grpc-health-check ships. */
export interface HealthClient extends grpc.Client {
  check(req: { service: string }, options: grpc.CallOptions, cb: (err: grpc.ServiceError | null, res?: { status: string }) => void): void;
  watch(req: { service: string }): grpc.ClientReadableStream<{ status: string }>;
}

/** Connects a health client (Check and Watch) to address. */
export function newHealthClient(address: string): HealthClient {
  const definition = protoLoader.loadSync(healthProtoPath, { keepCase: true, enums: String, defaults: true });
  const pkg = grpc.loadPackageDefinition(definition) as unknown as { grpc: { health: { v1: { Health: grpc.ServiceClientConstructor } } } };
  return new pkg.grpc.health.v1.Health(address, grpc.credentials.createInsecure()) as unknown as HealthClient;
}

/** Health Check as a promise: resolves to "SERVING", "NOT_SERVING", ... */
export function checkHealth(client: HealthClient, service: string, timeoutMs = 2000): Promise<string> {
  return new Promise((resolve, reject) =>
    client.check({ service }, { deadline: Date.now() + timeoutMs }, (err, res) => (err ? reject(err) : resolve(res!.status))),
  );
}

/** Statuses a Watch stream has delivered so far, and the stream itself. */
export interface HealthWatch {
  statuses: string[];
  stream: grpc.ClientReadableStream<{ status: string }>;
}

/** Opens a Watch stream and records every status it delivers. */
export function watchHealth(client: HealthClient, service: string): HealthWatch {
  const stream = client.watch({ service });
  const watch: HealthWatch = { statuses: [], stream };
  stream.on("data", (res: { status: string }) => watch.statuses.push(res.status));
  // Cancelling the stream at the end of a test surfaces as an error; the recorded statuses are what count.
  stream.on("error", () => {});
  return watch;
}

/** The reflection protos that @grpc/reflection ships. */
const reflectionProtoDir = join(dirname(createRequire(import.meta.url).resolve("@grpc/reflection")), "..", "proto");

/** One reflection request/response as proto-loader objects (keepCase: snake_case field names, bytes as Buffer). */
export type ReflectionMessage = Record<string, unknown>;

/** Sends one ServerReflectionInfo request (v1 or v1alpha) and returns the one response. */
export async function reflect(address: string, version: "v1" | "v1alpha", request: ReflectionMessage): Promise<ReflectionMessage> {
  const definition = protoLoader.loadSync(join(reflectionProtoDir, "grpc/reflection", version, "reflection.proto"), {
    keepCase: true,
    defaults: false,
    oneofs: true,
  });
  const pkg = grpc.loadPackageDefinition(definition) as unknown as {
    grpc: { reflection: Record<string, { ServerReflection: grpc.ServiceClientConstructor }> };
  };
  const client = new pkg.grpc.reflection[version]!.ServerReflection(address, grpc.credentials.createInsecure()) as unknown as grpc.Client & {
    serverReflectionInfo(options: grpc.CallOptions): grpc.ClientDuplexStream<ReflectionMessage, ReflectionMessage>;
  };
  try {
    const stream = client.serverReflectionInfo({ deadline: Date.now() + 5000 });
    const response = new Promise<ReflectionMessage>((resolve, reject) => {
      stream.once("data", resolve);
      stream.once("error", reject);
    });
    stream.write(request);
    stream.end();
    return await response;
  } finally {
    client.close();
  }
}
