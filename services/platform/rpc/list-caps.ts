import type { DescMessage } from "@bufbuild/protobuf";
import { BinaryReader } from "@bufbuild/protobuf/wire";
import { createAsyncIterable, encodeEnvelope, type UniversalHandler, type UniversalServerRequest, type UniversalServerResponse } from "@connectrpc/connect/protocol";
import { itemLimits } from "../validation/item-validation.js";

/**
 * Elements of one repeated field of a request that are decoded at most: one more than the largest list
 * any RPC accepts (1000 items), so validation still sees the list is too long and refuses it.
 */
export const maxDecodedListElements = itemLimits.maxItems + 1;

/**
 * The request's protobuf bytes with every top-level repeated message field cut to max elements, without
 * decoding anything. Decoding a 100,000-line CreateOrder costs ~130 ms of CPU before any handler runs;
 * 16 of them stalled every other call for seconds. Bytes that do not parse are returned unchanged, for
 * the decoder to refuse.
 */
export function capRepeatedFields(desc: DescMessage, bytes: Uint8Array, max = maxDecodedListElements): Uint8Array {
  const repeated = new Set(desc.fields.filter((f) => f.fieldKind === "list").map((f) => f.number));
  if (repeated.size === 0 || bytes.length === 0) return bytes;
  const counts = new Map<number, number>();
  const kept: Uint8Array[] = [];
  let keptFrom = 0;
  try {
    const reader = new BinaryReader(bytes);
    while (reader.pos < reader.len) {
      const start = reader.pos;
      const [fieldNo, wireType] = reader.tag();
      reader.skip(wireType, fieldNo);
      if (!repeated.has(fieldNo)) continue;
      const count = (counts.get(fieldNo) ?? 0) + 1;
      counts.set(fieldNo, count);
      if (count <= max) continue;
      if (start > keptFrom) kept.push(bytes.subarray(keptFrom, start));
      keptFrom = reader.pos;
    }
  } catch {
    return bytes;
  }
  if (keptFrom === 0) return bytes;
  kept.push(bytes.subarray(keptFrom));
  return Buffer.concat(kept);
}

const binaryEnvelopeTypes = /^application\/grpc(-web)?(\+proto)?$/;

/**
 * Wraps a connect-node method handler so that an uncompressed binary request (Connect unary, gRPC or
 * gRPC-Web, one message) reaches the decoder with its lists cut as by capRepeatedFields. connect-es
 * decodes before any interceptor runs, so the body is read here first, at most maxBodyBytes of it
 * (anything longer is passed on untouched, for connect-node's own size limit to refuse).
 */
export function capListsOfRequests(handler: UniversalHandler, maxBodyBytes: number): UniversalHandler {
  const input = handler.method.input;
  const wrapped = async (req: UniversalServerRequest): Promise<UniversalServerResponse> => {
    const type = req.header.get("content-type") ?? "";
    const envelope = binaryEnvelopeTypes.test(type);
    const unary = type === "application/proto" && !req.header.has("content-encoding");
    const declared = Number(req.header.get("content-length") ?? 0);
    if ((!envelope && !unary) || declared > maxBodyBytes + 5 || !isAsyncIterable(req.body)) return handler(req);
    const source = req.body[Symbol.asyncIterator]();
    const chunks: Uint8Array[] = [];
    let size = 0;
    // An envelope that is compressed or announces more than the limit is connect-node's to refuse, at once.
    let plainEnvelope: boolean | undefined;
    const passOn = () => {
      if (size > maxBodyBytes + 5) return true;
      if (!envelope || size < 5) return false;
      plainEnvelope ??= smallPlainEnvelope(chunks, maxBodyBytes);
      return !plainEnvelope;
    };
    for (;;) {
      if (passOn()) {
        const rest = async function* () {
          yield* chunks;
          for (let next = await source.next(); !next.done; next = await source.next()) yield next.value;
        };
        return handler({ ...req, body: rest() });
      }
      const next = await source.next();
      if (next.done) break;
      chunks.push(next.value);
      size += next.value.length;
    }
    const body = Buffer.concat(chunks);
    let capped: Uint8Array = body;
    if (unary) capped = capRepeatedFields(input, body);
    else if (body.length >= 5 && body[0] === 0 && body.readUInt32BE(1) === body.length - 5) {
      const payload = body.subarray(5);
      const cut = capRepeatedFields(input, payload);
      if (cut !== payload) capped = encodeEnvelope(0, cut);
    }
    const header = new Headers(req.header);
    if (capped !== body && header.has("content-length")) header.set("content-length", String(capped.length));
    return handler({ ...req, header, body: createAsyncIterable([capped]) });
  };
  return Object.assign(wrapped, handler);
}

function smallPlainEnvelope(chunks: Uint8Array[], maxBodyBytes: number): boolean {
  const head = Buffer.concat(chunks).subarray(0, 5);
  return head[0] === 0 && head.readUInt32BE(1) <= maxBodyBytes;
}

function isAsyncIterable(body: unknown): body is AsyncIterable<Uint8Array> {
  return typeof body === "object" && body !== null && Symbol.asyncIterator in body;
}
