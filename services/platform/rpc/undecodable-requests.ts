import type { DescMessage } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { createAsyncIterable, encodeEnvelope, sinkAllBytes, type UniversalHandler, type UniversalServerResponse } from "@connectrpc/connect/protocol";
import { codeToHttpStatus, endStreamFlag, endStreamFromJson, endStreamToJson, errorFromJsonBytes, errorToJsonBytes } from "@connectrpc/connect/protocol-connect";
import { findTrailerError, setTrailerStatus } from "@connectrpc/connect/protocol-grpc";
import { trailerFlag, trailerParse, trailerSerialize } from "@connectrpc/connect/protocol-grpc-web";

/**
 * The answer to a request body that does not decode as the method's input (bad protobuf, invalid UTF-8
 * in a string): the caller sent it, so INVALID_ARGUMENT on every protocol. (grpc-js and connect-node
 * both say INTERNAL, which tells clients and alerts that the server is broken.)
 */
export function undecodableRequest(input: DescMessage, cause: unknown): ConnectError {
  const detail = cause instanceof Error ? cause.message : String(cause);
  return new ConnectError(`the request is not a valid ${input.typeName}: ${detail}`, Code.InvalidArgument);
}

// connect-es wraps every protobuf binary decoding failure of a request as INTERNAL "parse binary: ...".
const connectParsePrefix = "parse binary: ";

// And an envelope flagged compressed without a grpc-encoding the server knows (found by fuzzing).
const connectUnknownCompression = "received compressed envelope, but do not know how to decompress";

function asUndecodable(error: ConnectError | undefined, input: DescMessage): ConnectError | undefined {
  if (error?.code !== Code.Internal) return undefined;
  if (error.rawMessage.startsWith(connectParsePrefix)) return undecodableRequest(input, error.rawMessage.slice(connectParsePrefix.length));
  if (error.rawMessage === connectUnknownCompression) return undecodableRequest(input, "its message is flagged compressed, but the request names no grpc-encoding");
  return undefined;
}

/**
 * Wraps a connect-node method handler so that its answer to an undecodable request is INVALID_ARGUMENT,
 * on Connect (unary and streaming), gRPC and gRPC-Web alike. connect-es decodes the body before any interceptor runs, so the
 * error can only be corrected in the response it already encoded.
 */
export function answerUndecodableAsInvalidArgument(handler: UniversalHandler): UniversalHandler {
  const input = handler.method.input;
  const wrapped = async (req: Parameters<UniversalHandler>[0]): Promise<UniversalServerResponse> => {
    const res = await handler(req);
    const contentType = req.header.get("content-type") ?? "";
    if (contentType.startsWith("application/grpc-web")) return { ...res, body: correctGrpcWebTrailer(res.body, input) };
    if (contentType.startsWith("application/grpc")) return correctGrpcTrailer(res, input);
    if (contentType.startsWith("application/connect+")) return { ...res, body: correctEnvelopes(res.body, (chunk) => correctEndStreamEnvelope(chunk, input)) };
    return await correctConnectUnary(res, input);
  };
  return Object.assign(wrapped, handler);
}

async function correctConnectUnary(res: UniversalServerResponse, input: DescMessage): Promise<UniversalServerResponse> {
  if (!res.body || res.status !== codeToHttpStatus(Code.Internal) || res.header?.has("content-encoding")) return res;
  // A Connect unary error is one small JSON body; read it whole to look at its code.
  const bytes = await sinkAllBytes(Number.MAX_SAFE_INTEGER)(res.body);
  const corrected = asUndecodable(errorFromJsonBytes(bytes, undefined, new ConnectError("", Code.Unknown)), input);
  if (!corrected) return { ...res, body: createAsyncIterable([bytes]) };
  const body = errorToJsonBytes(corrected, {});
  const header = new Headers(res.header);
  header.set("content-length", String(body.byteLength));
  return { ...res, status: codeToHttpStatus(corrected.code), header, body: createAsyncIterable([body]) };
}

function correctGrpcTrailer(res: UniversalServerResponse, input: DescMessage): UniversalServerResponse {
  const { trailer, body } = res;
  if (!trailer) return res;
  const correct = () => {
    const corrected = asUndecodable(findTrailerError(trailer), input);
    if (corrected) setTrailerStatus(trailer, corrected);
  };
  correct();
  if (!body) return res;
  // The trailer is filled in once the body has been produced, so it is checked again at its end.
  return {
    ...res,
    body: (async function* () {
      yield* body;
      correct();
    })(),
  };
}

function correctGrpcWebTrailer(body: UniversalServerResponse["body"], input: DescMessage): UniversalServerResponse["body"] {
  return correctEnvelopes(body, (chunk) => correctTrailerEnvelope(chunk, input));
}

function correctEnvelopes(body: UniversalServerResponse["body"], correct: (chunk: Uint8Array) => Uint8Array): UniversalServerResponse["body"] {
  if (!body) return body;
  return (async function* () {
    for await (const chunk of body) yield correct(chunk);
  })();
}

/** The data of a chunk that is exactly one uncompressed envelope with these flags, else undefined. */
function soleEnvelope(chunk: Uint8Array, flags: number): Uint8Array | undefined {
  if (chunk.length < 5 || chunk[0] !== flags) return undefined;
  const length = new DataView(chunk.buffer, chunk.byteOffset, chunk.byteLength).getUint32(1);
  return 5 + length === chunk.length ? chunk.subarray(5) : undefined;
}

// gRPC-Web sends its status in a last envelope with the trailer flag, Connect streams in an end-stream
// envelope; only a chunk that is exactly that one uncompressed envelope is looked at, which is how
// connect-es sends an error answered before any message.
function correctEndStreamEnvelope(chunk: Uint8Array, input: DescMessage): Uint8Array {
  const data = soleEnvelope(chunk, endStreamFlag);
  if (!data) return chunk;
  const end = endStreamFromJson(data);
  const corrected = asUndecodable(end.error, input);
  if (!corrected) return chunk;
  return encodeEnvelope(endStreamFlag, new TextEncoder().encode(JSON.stringify(endStreamToJson(end.metadata, corrected, undefined))));
}

function correctTrailerEnvelope(chunk: Uint8Array, input: DescMessage): Uint8Array {
  const data = soleEnvelope(chunk, trailerFlag);
  if (!data) return chunk;
  const trailer = trailerParse(data);
  const corrected = asUndecodable(findTrailerError(trailer), input);
  if (!corrected) return chunk;
  setTrailerStatus(trailer, corrected);
  return encodeEnvelope(trailerFlag, trailerSerialize(trailer));
}
