import * as grpc from "@grpc/grpc-js";
import { create, fromBinary, toBinary, type DescMessage, type DescMethodServerStreaming, type DescService, type MessageInitShape, type MessageShape } from "@bufbuild/protobuf";
import { Code, ConnectError, createClient, type Transport } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport, createGrpcWebTransport, Http2SessionManager } from "@connectrpc/connect-node";
import { newGrpcJsClient } from "./grpc-js-clients.js";

/** Per-stream options every path honours. */
export interface StreamOptions {
  /** Request headers (gRPC metadata), e.g. `authorization`. */
  headers?: Record<string, string>;
  /** Deadline relative to now; omitted: none. */
  timeoutMs?: number;
  /** Aborting it cancels the stream. */
  signal?: AbortSignal;
}

/** How a stream ended: OK, or a status code with its message. */
export interface StreamEnd {
  code: Code | "OK";
  message: string;
}

/** One way of opening a server stream: a client library, a protocol and a port. */
export interface StreamPath {
  name: string;
  /** Opens a server stream; each message is handed to onMessage as it arrives; resolves with how the stream ended. */
  stream<I extends DescMessage, O extends DescMessage>(
    method: DescMethodServerStreaming<I, O>,
    request: MessageInitShape<I>,
    onMessage: (message: MessageShape<O>) => void,
    options?: StreamOptions,
  ): Promise<StreamEnd>;
  close(): void;
}

/** Opens a stream and collects its messages; `ended` resolves with how it ended. */
export function collect<I extends DescMessage, O extends DescMessage>(
  path: StreamPath,
  method: DescMethodServerStreaming<I, O>,
  request: MessageInitShape<I>,
  options?: StreamOptions,
): { messages: MessageShape<O>[]; ended: Promise<StreamEnd> } {
  const messages: MessageShape<O>[] = [];
  return { messages, ended: path.stream(method, request, (m) => messages.push(m), options) };
}

/** Every client path for server streams: grpc-js and Connect's gRPC on the gRPC port, Connect, gRPC-Web and gRPC (HTTP/1.1 and h2c) on the web port. */
export function streamPaths(grpcPort: number, webPort: number): StreamPath[] {
  const grpcJs = (name: string, port: number): StreamPath => {
    const client = newGrpcJsClient(`127.0.0.1:${port}`);
    return {
      name,
      stream: (method, request, onMessage, options = {}) =>
        new Promise<StreamEnd>((resolve) => {
          const metadata = new grpc.Metadata();
          for (const [key, value] of Object.entries(options.headers ?? {})) metadata.set(key, value);
          const call = client.makeServerStreamRequest(
            `/${method.parent.typeName}/${method.name}`,
            (msg: MessageShape<typeof method.input>) => Buffer.from(toBinary(method.input, msg)),
            (buf: Buffer) => fromBinary(method.output, buf),
            create(method.input, request),
            metadata,
            options.timeoutMs === undefined ? {} : { deadline: Date.now() + options.timeoutMs },
          );
          options.signal?.addEventListener("abort", () => call.cancel(), { once: true });
          call.on("data", onMessage);
          call.on("error", (err: grpc.ServiceError) => resolve({ code: err.code as number as Code, message: err.details }));
          call.on("status", (status: grpc.StatusObject) => {
            if (status.code === grpc.status.OK) resolve({ code: "OK", message: "" });
          });
        }),
      close: () => client.close(),
    };
  };
  const connect = (name: string, make: (session: Http2SessionManager | undefined) => Transport, baseUrl: string, h2: boolean): StreamPath => {
    const session = h2 ? new Http2SessionManager(baseUrl) : undefined;
    const transport = make(session);
    return {
      name,
      async stream(method, request, onMessage, options = {}) {
        const client = createClient(method.parent as DescService, transport) as unknown as Record<
          string,
          (req: unknown, opts: unknown) => AsyncIterable<MessageShape<typeof method.output>>
        >;
        try {
          for await (const message of client[method.localName]!(request, { headers: options.headers, timeoutMs: options.timeoutMs, signal: options.signal })) onMessage(message);
          return { code: "OK", message: "" };
        } catch (err) {
          const error = ConnectError.from(err);
          return { code: error.code, message: error.rawMessage };
        }
      },
      close: () => session?.abort(),
    };
  };
  const grpcUrl = `http://127.0.0.1:${grpcPort}`;
  const webUrl = `http://127.0.0.1:${webPort}`;
  return [
    grpcJs("grpc-js -> grpc port", grpcPort),
    grpcJs("grpc-js -> web port (h2c)", webPort),
    connect("connect-node gRPC -> grpc port (h2)", (sessionManager) => createGrpcTransport({ baseUrl: grpcUrl, sessionManager: sessionManager! }), grpcUrl, true),
    connect("Connect -> web port (HTTP/1.1)", () => createConnectTransport({ baseUrl: webUrl, httpVersion: "1.1" }), webUrl, false),
    connect("Connect -> web port (h2c)", (sessionManager) => createConnectTransport({ baseUrl: webUrl, httpVersion: "2", sessionManager: sessionManager! }), webUrl, true),
    connect("gRPC-Web -> web port (HTTP/1.1)", () => createGrpcWebTransport({ baseUrl: webUrl, httpVersion: "1.1" }), webUrl, false),
    connect("gRPC-Web -> web port (h2c)", (sessionManager) => createGrpcWebTransport({ baseUrl: webUrl, httpVersion: "2", sessionManager: sessionManager! }), webUrl, true),
  ];
}
