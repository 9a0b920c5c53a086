import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { gunzipSync } from "node:zlib";
import { create, fromBinary, fromJson, toBinary, toJson, type JsonValue } from "@bufbuild/protobuf";
import { StatusSchema } from "../../gen/google/rpc/status_pb.js";
import type { AnyValue, KeyValue } from "../../gen/opentelemetry/proto/common/v1/common_pb.js";
import { Span_SpanKind, Status_StatusCode, TracesDataSchema, type TracesData } from "../../gen/opentelemetry/proto/trace/v1/trace_pb.js";
import type { ReceivedSpan, TraceSummary } from "./trace-model.js";

export type { ReceivedSpan, TraceSummary } from "./trace-model.js";

/** Where the receiver listens and what it keeps. */
export interface OtlpReceiverOptions {
  /** Default 127.0.0.1: traces hold order ids and emails' ids; the receiver is for local use. */
  host?: string;
  /** Default 0 (a free port). */
  port?: number;
  /** Traces kept; the one first seen longest ago is dropped for a new one. Default 200. */
  maxTraces?: number;
  /** Spans kept per trace; later ones are dropped. Default 2000. */
  maxSpansPerTrace?: number;
  /** Largest request body, after gzip decoding; larger is 413. Default 4 MiB. */
  maxBodyBytes?: number;
}

/** A running receiver. */
export interface OtlpReceiver {
  /** Base URL for OTEL_EXPORTER_OTLP_ENDPOINT (spans are POSTed to `${url}/v1/traces`). */
  url: string;
  /** The traces kept, newest (by start) first. */
  traces(): TraceSummary[];
  /** A trace's spans in start order, or undefined when it is not (or no longer) kept. */
  trace(traceId: string): ReceivedSpan[] | undefined;
  close(): Promise<void>;
}

const kinds: Record<number, ReceivedSpan["kind"]> = {
  [Span_SpanKind.UNSPECIFIED]: "INTERNAL",
  [Span_SpanKind.INTERNAL]: "INTERNAL",
  [Span_SpanKind.SERVER]: "SERVER",
  [Span_SpanKind.CLIENT]: "CLIENT",
  [Span_SpanKind.PRODUCER]: "PRODUCER",
  [Span_SpanKind.CONSUMER]: "CONSUMER",
};
const statusCodes: Record<number, ReceivedSpan["status"]["code"]> = {
  [Status_StatusCode.UNSET]: "UNSET",
  [Status_StatusCode.OK]: "OK",
  [Status_StatusCode.ERROR]: "ERROR",
};

type Encoding = "protobuf" | "json";

/** A request the receiver refuses, with the HTTP status it answers. */
class Refusal extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

/**
 * An OTLP/HTTP trace receiver (https://opentelemetry.io/docs/specs/otlp/#otlphttp): POST /v1/traces
 * in application/x-protobuf or application/json (OTLP's JSON: hex trace and span ids, enums as
 * numbers), gzip or not. It keeps the latest traces in memory, bounded in traces, spans per trace and
 * body size, for the launcher's console and the tests; it is no collector (no retries asked for, no
 * persistence). Errors answer a google.rpc.Status in the request's encoding, as OTLP says: 400 for a
 * body that does not decode, 413 for one over maxBodyBytes, 415 for another content type.
 */
export async function startOtlpReceiver(options: OtlpReceiverOptions = {}): Promise<OtlpReceiver> {
  const maxTraces = options.maxTraces ?? 200;
  const maxSpansPerTrace = options.maxSpansPerTrace ?? 2000;
  const maxBodyBytes = options.maxBodyBytes ?? 4 * 1024 * 1024;
  // Insertion order is first-seen order: the first key is the one to evict.
  const kept = new Map<string, ReceivedSpan[]>();

  const store = (spans: ReceivedSpan[]) => {
    for (const span of spans) {
      let trace = kept.get(span.traceId);
      if (!trace) {
        if (kept.size >= maxTraces) kept.delete(kept.keys().next().value!);
        trace = [];
        kept.set(span.traceId, trace);
      }
      if (trace.length < maxSpansPerTrace) trace.push(span);
    }
  };

  const server = createServer((req, res) => {
    const encoding: Encoding = (req.headers["content-type"] ?? "").startsWith("application/json") ? "json" : "protobuf";
    handle(req)
      .then((spans) => {
        store(spans);
        answer(res, 200, encoding, undefined);
      })
      .catch((err: unknown) => {
        const refusal = err instanceof Refusal ? err : new Refusal(400, err instanceof Error ? err.message : String(err));
        answer(res, refusal.status, encoding, refusal.message);
        // Stop reading an oversized upload; the answer is already on its way.
        if (refusal.status === 413) req.resume();
      });
  });

  const handle = async (req: IncomingMessage): Promise<ReceivedSpan[]> => {
    if (req.url?.split("?")[0] !== "/v1/traces") throw new Refusal(404, `no such endpoint: ${req.url}; OTLP traces go to POST /v1/traces`);
    if (req.method !== "POST") throw new Refusal(405, "OTLP traces are POSTed");
    const type = (req.headers["content-type"] ?? "").split(";")[0]!.trim();
    if (type !== "application/x-protobuf" && type !== "application/json") throw new Refusal(415, `content type must be application/x-protobuf or application/json, got "${type}"`);
    const declared = Number(req.headers["content-length"] ?? 0);
    if (declared > maxBodyBytes) throw new Refusal(413, `body of ${declared} bytes is over the limit of ${maxBodyBytes}`);
    let body = await readBody(req, maxBodyBytes);
    const contentEncoding = req.headers["content-encoding"];
    if (contentEncoding === "gzip") {
      try {
        body = gunzipSync(body, { maxOutputLength: maxBodyBytes });
      } catch (err) {
        if (err instanceof RangeError) throw new Refusal(413, `decompressed body is over the limit of ${maxBodyBytes} bytes`);
        throw new Refusal(400, `body is not valid gzip: ${(err as Error).message}`);
      }
    } else if (contentEncoding !== undefined && contentEncoding !== "identity") {
      throw new Refusal(415, `content encoding must be gzip or none, got "${contentEncoding}"`);
    }
    return spansOf(type === "application/json" ? decodeJson(body) : decodeProtobuf(body));
  };

  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port ?? 0, options.host ?? "127.0.0.1", () => resolve());
  });
  const address = server.address() as AddressInfo;
  const host = address.family === "IPv6" ? `[${address.address}]` : address.address;
  return {
    url: `http://${host}:${address.port}`,
    traces: () => [...kept.entries()].map(([traceId, spans]) => summaryOf(traceId, spans)).sort((a, b) => b.startMs - a.startMs),
    trace: (traceId) => {
      const spans = kept.get(traceId.toLowerCase());
      return spans && [...spans].sort((a, b) => a.startMs - b.startMs);
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        req.off("data", onData);
        reject(new Refusal(413, `body is over the limit of ${limit} bytes`));
        return;
      }
      chunks.push(chunk);
    };
    req.on("data", onData);
    req.once("end", () => resolve(Buffer.concat(chunks)));
    req.once("error", reject);
  });
}

function decodeProtobuf(body: Buffer): TracesData {
  try {
    // ExportTraceServiceRequest and TracesData are the same message on the wire (field 1, repeated ResourceSpans).
    return fromBinary(TracesDataSchema, body);
  } catch (err) {
    throw new Refusal(400, `body is not an OTLP ExportTraceServiceRequest: ${(err as Error).message}`);
  }
}

function decodeJson(body: Buffer): TracesData {
  let json: unknown;
  try {
    json = JSON.parse(body.toString("utf8"));
  } catch (err) {
    throw new Refusal(400, `body is not JSON: ${(err as Error).message}`);
  }
  try {
    // OTLP's JSON differs from protobuf's in one thing: trace and span ids are hex, not base64.
    return fromJson(TracesDataSchema, hexIdsToBase64(json) as JsonValue, { ignoreUnknownFields: true });
  } catch (err) {
    throw new Refusal(400, `body is not an OTLP ExportTraceServiceRequest in JSON: ${(err as Error).message}`);
  }
}

const idFields = ["traceId", "spanId", "parentSpanId", "trace_id", "span_id", "parent_span_id"];

/** The request with every span's and link's ids turned from hex into base64, which fromJson expects for bytes. */
function hexIdsToBase64(json: unknown): unknown {
  const resourceSpans = (json as { resourceSpans?: unknown; resource_spans?: unknown } | null)?.resourceSpans ?? (json as { resource_spans?: unknown } | null)?.resource_spans;
  if (!Array.isArray(resourceSpans)) return json;
  const convert = (holder: unknown) => {
    if (!holder || typeof holder !== "object") return;
    for (const field of idFields) {
      const value = (holder as Record<string, unknown>)[field];
      if (typeof value !== "string") continue;
      if (!/^([0-9a-fA-F]{2})*$/.test(value)) throw new Refusal(400, `${field} "${value.slice(0, 40)}" is not hex`);
      (holder as Record<string, unknown>)[field] = Buffer.from(value, "hex").toString("base64");
    }
  };
  for (const rs of resourceSpans) {
    for (const ss of arrayField(rs, "scopeSpans", "scope_spans")) {
      for (const span of arrayField(ss, "spans")) {
        convert(span);
        for (const link of arrayField(span, "links")) convert(link);
      }
    }
  }
  return json;
}

function arrayField(holder: unknown, ...names: string[]): unknown[] {
  for (const name of names) {
    const value = (holder as Record<string, unknown> | null)?.[name];
    if (Array.isArray(value)) return value;
  }
  return [];
}

function spansOf(data: TracesData): ReceivedSpan[] {
  const hex = (bytes: Uint8Array) => Buffer.from(bytes).toString("hex");
  return data.resourceSpans.flatMap((rs) => {
    const serviceAttribute = rs.resource?.attributes.find((a) => a.key === "service.name")?.value?.value;
    const service = serviceAttribute?.case === "stringValue" ? serviceAttribute.value : "unknown_service";
    return rs.scopeSpans.flatMap((ss) =>
      ss.spans.map((span): ReceivedSpan => {
        if (span.traceId.length !== 16 || span.spanId.length !== 8) throw new Refusal(400, `span "${span.name}" has no valid trace id and span id`);
        const startMs = Number(span.startTimeUnixNano) / 1e6;
        return {
          traceId: hex(span.traceId),
          spanId: hex(span.spanId),
          ...(span.parentSpanId.length === 8 ? { parentSpanId: hex(span.parentSpanId) } : {}),
          name: span.name,
          kind: kinds[span.kind] ?? "INTERNAL",
          service,
          startMs,
          durationMs: Math.max(0, Number(span.endTimeUnixNano - span.startTimeUnixNano) / 1e6),
          attributes: attributesOf(span.attributes),
          links: span.links.filter((l) => l.traceId.length === 16 && l.spanId.length === 8).map((l) => ({ traceId: hex(l.traceId), spanId: hex(l.spanId) })),
          status: { code: statusCodes[span.status?.code ?? 0] ?? "UNSET", message: span.status?.message ?? "" },
        };
      }),
    );
  });
}

function attributesOf(attributes: KeyValue[]): Record<string, string | number | boolean> {
  const result: Record<string, string | number | boolean> = {};
  for (const { key, value } of attributes) {
    const plain = plainValue(value);
    if (plain !== undefined) result[key] = typeof plain === "object" ? JSON.stringify(plain) : plain;
  }
  return result;
}

type Plain = string | number | boolean | Plain[] | { [key: string]: Plain };

function plainValue(value: AnyValue | undefined): Plain | undefined {
  const v = value?.value;
  switch (v?.case) {
    case "stringValue":
    case "boolValue":
    case "doubleValue":
      return v.value;
    case "intValue":
      return Number(v.value);
    case "bytesValue":
      return Buffer.from(v.value).toString("base64");
    case "arrayValue":
      return v.value.values.map(plainValue).filter((x): x is Plain => x !== undefined);
    case "kvlistValue":
      return Object.fromEntries(
        v.value.values.flatMap((kv) => {
          const plain = plainValue(kv.value);
          return plain === undefined ? [] : [[kv.key, plain] as const];
        }),
      );
    default:
      return undefined;
  }
}

function summaryOf(traceId: string, spans: ReceivedSpan[]): TraceSummary {
  const ids = new Set(spans.map((s) => s.spanId));
  const byStart = [...spans].sort((a, b) => a.startMs - b.startMs);
  const root = byStart.find((s) => !s.parentSpanId) ?? byStart.find((s) => !ids.has(s.parentSpanId!)) ?? byStart[0]!;
  const startMs = byStart[0]!.startMs;
  const endMs = Math.max(...spans.map((s) => s.startMs + s.durationMs));
  return { traceId, rootName: root.name, services: [...new Set(byStart.map((s) => s.service))], spanCount: spans.length, startMs, durationMs: endMs - startMs };
}

function answer(res: ServerResponse, status: number, encoding: Encoding, error: string | undefined): void {
  if (res.headersSent) return;
  // A success is an empty ExportTraceServiceResponse; an error a google.rpc.Status (code 3: INVALID_ARGUMENT).
  const statusMessage = error === undefined ? undefined : create(StatusSchema, { code: 3, message: error });
  const body =
    encoding === "json"
      ? Buffer.from(statusMessage ? JSON.stringify(toJson(StatusSchema, statusMessage)) : "{}")
      : statusMessage
        ? Buffer.from(toBinary(StatusSchema, statusMessage))
        : Buffer.alloc(0);
  res.writeHead(status, {
    "content-type": encoding === "json" ? "application/json" : "application/x-protobuf",
    "content-length": body.length,
    // A refused upload may still be arriving: no keep-alive for the rest of it.
    ...(status === 413 ? { connection: "close" } : {}),
  });
  res.end(body);
}
