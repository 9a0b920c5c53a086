import * as grpc from "@grpc/grpc-js";
import type { DescMessage, DescMethodUnary, DescService, MessageInitShape, MessageShape } from "@bufbuild/protobuf";
import { Code, ConnectError, createClient, type Transport } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport, createGrpcWebTransport, Http2SessionManager } from "@connectrpc/connect-node";
import { BadRequestSchema } from "../../gen/google/rpc/error_details_pb.js";
import { grpcBadRequest, newGrpcJsClient, unaryCall } from "./grpc-js-clients.js";

/** A failed call, reduced to what every path must agree on. */
export interface CallFailure {
  code: Code;
  message: string;
  /** Fields named by google.rpc.BadRequest details. */
  badRequestFields: string[];
}

/** Per-call options every path honours. */
export interface CallOptions {
  timeoutMs?: number;
  /** Request headers (gRPC metadata), e.g. `authorization`. */
  headers?: Record<string, string>;
}

/** One way of reaching a server: a client library, a protocol and a port. */
export interface RpcPath {
  name: string;
  /** Calls a unary method; rejects with a CallFailure. */
  call<I extends DescMessage, O extends DescMessage>(
    method: DescMethodUnary<I, O>,
    request: MessageInitShape<I>,
    options?: CallOptions,
  ): Promise<MessageShape<O>>;
  close(): void;
}

/** Every client path to a service host: grpc-js and Connect's gRPC on both ports, Connect and gRPC-Web (HTTP/1.1 and h2c) on the web port. */
export function rpcPaths(grpcPort: number, webPort: number): RpcPath[] {
  const grpcJs = (name: string, port: number, redecode = false): RpcPath => {
    const client = newGrpcJsClient(`127.0.0.1:${port}`);
    return {
      name,
      call: (method, request, options) =>
        unaryCall(client, method, request, { timeoutMs: options?.timeoutMs, metadata: toMetadata(options?.headers) }).catch((err: grpc.ServiceError) => {
          throw {
            code: err.code as number as Code,
            // connect-node percent-encodes grpc-message with encodeURIComponent while grpc-js decodes it with
            // decodeURI, which leaves ":" and ";" as %3A and %3B; the code and details are unaffected.
            message: redecode ? decodeURIComponent(err.details) : err.details,
            badRequestFields: grpcBadRequest(err)?.fieldViolations.map((v) => v.field) ?? [],
          } satisfies CallFailure;
        }),
      close: () => client.close(),
    };
  };
  const connect = (name: string, make: (session: Http2SessionManager | undefined) => Transport, baseUrl: string, h2: boolean): RpcPath => {
    // An explicit session manager lets the test close its HTTP/2 connection instead of leaving it to time out.
    const session = h2 ? new Http2SessionManager(baseUrl) : undefined;
    const transport = make(session);
    return {
      name,
      call: (method, request, options) =>
        connectCall(transport, method, request, options).catch((err: unknown) => {
          const error = ConnectError.from(err);
          throw {
            code: error.code,
            message: error.rawMessage,
            badRequestFields: error.findDetails(BadRequestSchema).flatMap((d) => d.fieldViolations.map((v) => v.field)),
          } satisfies CallFailure;
        }),
      close: () => session?.abort(),
    };
  };
  const grpcUrl = `http://127.0.0.1:${grpcPort}`;
  const webUrl = `http://127.0.0.1:${webPort}`;
  return [
    grpcJs("grpc-js -> grpc port", grpcPort),
    // And the other way round: grpc-js talking to the connect-node server.
    grpcJs("grpc-js -> web port (h2c)", webPort, true),
    connect("connect-node gRPC -> grpc port (h2)", (sessionManager) => createGrpcTransport({ baseUrl: grpcUrl, sessionManager: sessionManager! }), grpcUrl, true),
    connect("connect-node gRPC -> web port (h2c)", (sessionManager) => createGrpcTransport({ baseUrl: webUrl, sessionManager: sessionManager! }), webUrl, true),
    connect("Connect -> web port (HTTP/1.1)", () => createConnectTransport({ baseUrl: webUrl, httpVersion: "1.1" }), webUrl, false),
    connect("Connect -> web port (h2c)", (sessionManager) => createConnectTransport({ baseUrl: webUrl, httpVersion: "2", sessionManager: sessionManager! }), webUrl, true),
    connect("gRPC-Web -> web port (HTTP/1.1)", () => createGrpcWebTransport({ baseUrl: webUrl, httpVersion: "1.1" }), webUrl, false),
    connect("gRPC-Web -> web port (h2c)", (sessionManager) => createGrpcWebTransport({ baseUrl: webUrl, httpVersion: "2", sessionManager: sessionManager! }), webUrl, true),
  ];
}

async function connectCall<I extends DescMessage, O extends DescMessage>(
  transport: Transport,
  method: DescMethodUnary<I, O>,
  request: MessageInitShape<I>,
  options: CallOptions | undefined,
): Promise<MessageShape<O>> {
  // createClient is typed per service; one generic client over the method's parent keeps this helper service-agnostic.
  const client = createClient(method.parent as DescService, transport) as unknown as Record<string, (req: unknown, opts: unknown) => Promise<MessageShape<O>>>;
  return client[method.localName]!(request, { timeoutMs: options?.timeoutMs, headers: options?.headers });
}

function toMetadata(headers: Record<string, string> | undefined): grpc.Metadata {
  const metadata = new grpc.Metadata();
  for (const [key, value] of Object.entries(headers ?? {})) metadata.set(key, value);
  return metadata;
}

/** Awaits a call that must fail on some path and returns the normalised failure. */
export async function failure(call: Promise<unknown>): Promise<CallFailure> {
  try {
    await call;
  } catch (err) {
    if (err && typeof err === "object" && "badRequestFields" in err) return err as CallFailure;
    throw err;
  }
  throw new Error("expected the call to fail, but it succeeded");
}
