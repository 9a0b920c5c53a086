import * as grpc from "@grpc/grpc-js";
import { create, fromBinary, toBinary, type DescMessage, type DescMethod, type Message } from "@bufbuild/protobuf";
import { anyPack } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError, createHandlerContext, type HandlerContext } from "@connectrpc/connect";
import { StatusSchema } from "../../../gen/google/rpc/status_pb.js";
import { maxDeadlineMs } from "./deadline-limits.js";
import { grpcPeerContextValues } from "../identity/peer-identity.js";
import { capRepeatedFields } from "./list-caps.js";
import type { ServiceBinding } from "./service-impl.js";
import { undecodableRequest } from "./undecodable-requests.js";

type UnaryFn = (req: Message, ctx: HandlerContext) => Promise<unknown> | unknown;
type ServerStreamFn = (req: Message, ctx: HandlerContext) => AsyncIterable<unknown>;

/**
 * Serves handlers written against protobuf-es descriptors on @grpc/grpc-js: the service definition is
 * built from the descriptors (toBinary/fromBinary), so no proto-loader and no second codegen is needed.
 */
export function addGrpcService(server: grpc.Server, binding: ServiceBinding): void {
  const definition: Record<string, grpc.MethodDefinition<Message, Message>> = {};
  const handlers: grpc.UntypedServiceImplementation = {};
  const impl = binding.impl as unknown as Record<string, UnaryFn | ServerStreamFn>;
  for (const method of binding.service.methods) {
    // No service has a client-streaming or bidi method; grpc-js answers UNIMPLEMENTED for one until then.
    if (method.methodKind !== "unary" && method.methodKind !== "server_streaming") continue;
    const handler = impl[method.localName];
    if (!handler) continue;
    definition[method.localName] = {
      path: `/${binding.service.typeName}/${method.name}`,
      requestStream: false,
      responseStream: method.methodKind === "server_streaming",
      requestSerialize: (msg: Message) => Buffer.from(toBinary(method.input, msg)),
      // grpc-js answers a throwing deserializer with INTERNAL; the handler answers INVALID_ARGUMENT instead.
      requestDeserialize: (buf: Buffer) => {
        try {
          return fromBinary(method.input, capRepeatedFields(method.input, buf));
        } catch (err) {
          return new Undecodable(err) as unknown as Message;
        }
      },
      responseSerialize: (msg: Message) => Buffer.from(toBinary(method.output, msg)),
      responseDeserialize: (buf: Buffer) => fromBinary(method.output, buf),
      originalName: method.localName,
    };
    handlers[method.localName] =
      method.methodKind === "unary" ? unaryHandler(binding, method, handler as UnaryFn) : serverStreamingHandler(binding, method, handler as ServerStreamFn);
  }
  server.addService(definition, handlers);
}

type GrpcCall = grpc.ServerUnaryCall<Message, Message> | grpc.ServerWritableStream<Message, Message>;

/** The handler context of a grpc-js call: its deadline, metadata and mTLS peer; aborted when the client cancels. */
function callContext(binding: ServiceBinding, method: DescMethod, call: GrpcCall): ReturnType<typeof createHandlerContext> {
  const ctx = createHandlerContext({
    service: binding.service,
    method,
    protocolName: "grpc",
    requestMethod: "POST",
    url: call.getPath(),
    timeoutMs: remainingMs(call.getDeadline()),
    requestHeader: metadataToHeaders(call.metadata),
    contextValues: grpcPeerContextValues(call),
  });
  // grpc-js says "cancelled" for a client's cancel, a reset stream and a passed deadline alike (and for
  // many a call already answered); ctx.abort and one shared reason, not a controller and an error per call.
  call.once("cancelled", () => ctx.abort(cancelledByClient));
  return ctx;
}

function unaryHandler(binding: ServiceBinding, method: DescMethod & { output: DescMessage }, handler: UnaryFn) {
  return (call: grpc.ServerUnaryCall<Message, Message>, callback: grpc.sendUnaryData<Message>) => {
    const ctx = callContext(binding, method, call);
    const request: Message | Undecodable = call.request;
    Promise.resolve()
      .then(() => {
        if (request instanceof Undecodable) throw undecodableRequest(method.input, request.cause);
        return handler(request, ctx);
      })
      .then(
        (res) => {
          const header = toMetadata(ctx.responseHeader);
          if (header) call.sendMetadata(header);
          callback(null, create(method.output, res as never), toMetadata(ctx.responseTrailer));
        },
        (err: unknown) => callback(toServiceError(err)),
      )
      // Releases the deadline timer and listeners; a shared reason spares a DOMException (and its stack) per call.
      .finally(() => ctx.abort(callEnded));
  };
}

/**
 * Serves a protobuf-es server-streaming handler (an async iterable of messages) on a grpc-js writable
 * call: each message is written as it comes, the next one is pulled only once grpc-js has room for it
 * (write() returning false waits for "drain"), the end is OK with the handler's trailers, a thrown
 * error becomes its gRPC status, and a client that goes away aborts ctx.signal and stops the handler.
 */
function serverStreamingHandler(binding: ServiceBinding, method: DescMethod & { output: DescMessage }, handler: ServerStreamFn) {
  return (call: grpc.ServerWritableStream<Message, Message>) => {
    const ctx = callContext(binding, method, call);
    const request: Message | Undecodable = call.request;
    void (async () => {
      let iterator: AsyncIterator<unknown> | undefined;
      try {
        if (request instanceof Undecodable) throw undecodableRequest(method.input, request.cause);
        iterator = handler(request, ctx)[Symbol.asyncIterator]();
        let headerSent = false;
        for (let next = await iterator.next(); !next.done; next = await iterator.next()) {
          if (!headerSent) {
            const header = toMetadata(ctx.responseHeader);
            if (header) call.sendMetadata(header);
            headerSent = true;
          }
          if (!call.write(create(method.output, next.value as never))) await drained(call, ctx.signal);
        }
        call.end(toMetadata(ctx.responseTrailer));
      } catch (err) {
        // A cancelled call has no client left to tell; grpc-js already answered a passed deadline.
        if (!call.cancelled) call.emit("error", toServiceError(err));
      } finally {
        ctx.abort(callEnded);
        // Ends a handler left suspended at a yield (the client went away while a write waited): its finally runs now.
        await iterator?.return?.().catch(() => undefined);
      }
    })();
  };
}

/** Resolves once the call's write buffer has room again; rejects when the call is aborted first. */
function drained(call: grpc.ServerWritableStream<Message, Message>, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const onDrain = () => {
      signal.removeEventListener("abort", onAbort);
      resolve();
    };
    const onAbort = () => {
      call.removeListener("drain", onDrain);
      reject(signal.reason);
    };
    if (signal.aborted) return reject(signal.reason);
    call.once("drain", onDrain);
    signal.addEventListener("abort", onAbort, { once: true });
  });
}

const callEnded = new ConnectError("the call has ended", Code.Canceled);
const cancelledByClient = new ConnectError("cancelled by the client", Code.Canceled);

/** A request body that did not decode, handed from the deserializer to the handler. */
class Undecodable {
  constructor(readonly cause: unknown) {}
}

function remainingMs(deadline: grpc.Deadline): number | undefined {
  const at = deadline instanceof Date ? deadline.getTime() : deadline;
  return Number.isFinite(at) ? Math.min(maxDeadlineMs, Math.max(0, at - Date.now())) : undefined;
}

/** Headers a handler set for the client, as grpc-js metadata; undefined when there are none. */
function toMetadata(headers: Headers): grpc.Metadata | undefined {
  let metadata: grpc.Metadata | undefined;
  headers.forEach((value, key) => (metadata ??= new grpc.Metadata()).set(key, value));
  return metadata;
}

function metadataToHeaders(metadata: grpc.Metadata): Headers {
  const headers = new Headers();
  for (const [key, values] of Object.entries(metadata.getMap())) {
    if (!key.endsWith("-bin")) headers.set(key, String(values));
  }
  return headers;
}

/** Maps a handler error to a gRPC status; error details travel as grpc-status-details-bin (google.rpc.Status). */
export function toServiceError(err: unknown): Partial<grpc.StatusObject> {
  const error = ConnectError.from(err);
  const metadata = new grpc.Metadata();
  if (error.details.length > 0) {
    const status = create(StatusSchema, {
      code: error.code,
      message: error.rawMessage,
      details: error.details.map((d) =>
        "desc" in d
          ? anyPack(d.desc, create(d.desc, d.value))
          : { typeUrl: `type.googleapis.com/${d.type}`, value: d.value },
      ),
    });
    metadata.set("grpc-status-details-bin", Buffer.from(toBinary(StatusSchema, status)));
  }
  // Connect's Code enum uses the gRPC status numbers, so the code carries over unchanged.
  return { code: error.code as number as grpc.status, details: error.rawMessage, metadata };
}
