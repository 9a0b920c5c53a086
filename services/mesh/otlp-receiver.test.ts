import { gzipSync } from "node:zlib";
import { ROOT_CONTEXT, SpanKind, SpanStatusCode, trace } from "@opentelemetry/api";
import { OTLPTraceExporter as OtlpJsonExporter } from "@opentelemetry/exporter-trace-otlp-http";
import { OTLPTraceExporter as OtlpProtobufExporter } from "@opentelemetry/exporter-trace-otlp-proto";
import { resourceFromAttributes } from "@opentelemetry/resources";
import { SimpleSpanProcessor, TracerProvider, type SpanExporter } from "@opentelemetry/sdk-trace";
import { create, toBinary } from "@bufbuild/protobuf";
import { afterEach, describe, expect, it } from "vitest";
import { TracesDataSchema } from "../../gen/opentelemetry/proto/trace/v1/trace_pb.js";
import { startOtlpReceiver, type OtlpReceiver } from "./otlp-receiver.js";

let receiver: OtlpReceiver | undefined;
afterEach(async () => {
  await receiver?.close();
  receiver = undefined;
});

/** Exports one small trace through the SDK's own OTLP exporter: a SERVER root, a CLIENT child with an attribute, a linked PRODUCER. */
async function exportTrace(exporter: SpanExporter, service: string) {
  const provider = new TracerProvider({ resource: resourceFromAttributes({ "service.name": service }), spanProcessors: [new SimpleSpanProcessor({ exporter })] });
  const tracer = provider.getTracer("test");
  const root = tracer.startSpan("orders.v1.OrderService/CreateOrder", { kind: SpanKind.SERVER }, ROOT_CONTEXT);
  const child = tracer.startSpan("insert orders", { kind: SpanKind.CLIENT, attributes: { "db.namespace": "orders", "server.port": 5432, "ordermesh.flag": true, "list.values": ["a", "b"] } }, trace.setSpan(ROOT_CONTEXT, root));
  child.setStatus({ code: SpanStatusCode.ERROR, message: "boom" });
  child.end();
  const linked = tracer.startSpan("send orders.created", { kind: SpanKind.PRODUCER, links: [{ context: root.spanContext() }] }, ROOT_CONTEXT);
  linked.end();
  root.end();
  await provider.shutdown();
  return { root: root.spanContext(), child: child.spanContext(), linked: linked.spanContext() };
}

/** POSTs a body to the receiver's traces endpoint and answers the status. */
async function post(body: Uint8Array | string, headers: Record<string, string>): Promise<number> {
  const res = await fetch(`${receiver!.url}/v1/traces`, { method: "POST", body, headers });
  await res.arrayBuffer();
  return res.status;
}

describe("OTLP/HTTP receiver", () => {
  for (const [encoding, Exporter] of [
    ["http/protobuf", OtlpProtobufExporter],
    ["http/json", OtlpJsonExporter],
  ] as const) {
    it(`keeps what the SDK's ${encoding} exporter sends: ids, parents, kinds, attributes, links, status, service`, async () => {
      receiver = await startOtlpReceiver();
      const ids = await exportTrace(new Exporter({ url: `${receiver.url}/v1/traces` }), `svc-${encoding}`);
      const spans = receiver.trace(ids.root.traceId)!;
      expect(spans.map((s) => s.name).sort()).toEqual(["insert orders", "orders.v1.OrderService/CreateOrder"]);
      const root = spans.find((s) => s.spanId === ids.root.spanId)!;
      const child = spans.find((s) => s.spanId === ids.child.spanId)!;
      expect(root).toMatchObject({ kind: "SERVER", service: `svc-${encoding}`, status: { code: "UNSET" } });
      expect(root.parentSpanId).toBeUndefined();
      expect(child).toMatchObject({
        kind: "CLIENT",
        parentSpanId: ids.root.spanId,
        attributes: { "db.namespace": "orders", "server.port": 5432, "ordermesh.flag": true, "list.values": '["a","b"]' },
        status: { code: "ERROR", message: "boom" },
      });
      expect(child.startMs).toBeGreaterThanOrEqual(root.startMs);
      expect(root.durationMs).toBeGreaterThanOrEqual(child.durationMs);
      const linked = receiver.trace(ids.linked.traceId)!;
      expect(linked).toEqual([expect.objectContaining({ kind: "PRODUCER", links: [{ traceId: ids.root.traceId, spanId: ids.root.spanId }] })]);
      const summaries = receiver.traces();
      expect(summaries.map((s) => s.traceId).sort()).toEqual([ids.root.traceId, ids.linked.traceId].sort());
      expect(summaries.find((s) => s.traceId === ids.root.traceId)).toMatchObject({ rootName: "orders.v1.OrderService/CreateOrder", services: [`svc-${encoding}`], spanCount: 2 });
    });
  }

  it("lists traces newest first and drops the one first seen longest ago beyond maxTraces", async () => {
    receiver = await startOtlpReceiver({ maxTraces: 2 });
    const exporter = () => new OtlpProtobufExporter({ url: `${receiver!.url}/v1/traces` });
    const first = await exportTrace(exporter(), "a");
    // exportTrace makes two traces (root+child, and the linked one): the second call's push the first's out.
    const second = await exportTrace(exporter(), "b");
    expect(receiver.trace(first.root.traceId)).toBeUndefined();
    expect(receiver.trace(first.linked.traceId)).toBeUndefined();
    const listed = receiver.traces();
    expect(listed.map((t) => t.traceId).sort()).toEqual([second.root.traceId, second.linked.traceId].sort());
    expect(listed[0]!.startMs).toBeGreaterThanOrEqual(listed[1]!.startMs);
  });

  it("keeps at most maxSpansPerTrace spans of one trace", async () => {
    receiver = await startOtlpReceiver({ maxSpansPerTrace: 1 });
    const ids = await exportTrace(new OtlpProtobufExporter({ url: `${receiver.url}/v1/traces` }), "a");
    expect(receiver.trace(ids.root.traceId)).toHaveLength(1);
  });

  it("refuses a body over maxBodyBytes (413), also once gunzipped, and keeps nothing of it", async () => {
    receiver = await startOtlpReceiver({ maxBodyBytes: 64 });
    const big = JSON.stringify({ resourceSpans: [], padding: "x".repeat(200) });
    expect(await post(big, { "content-type": "application/json" })).toBe(413);
    expect(await post(gzipSync(big), { "content-type": "application/json", "content-encoding": "gzip" })).toBe(413);
    expect(await post("{}", { "content-type": "application/json" })).toBe(200);
    expect(receiver.traces()).toEqual([]);
  });

  it("answers 400 to a body that does not decode, 415 to another content type, 404 elsewhere", async () => {
    receiver = await startOtlpReceiver();
    expect(await post(new Uint8Array([0xff, 0xff, 0xff]), { "content-type": "application/x-protobuf" })).toBe(400);
    expect(await post("{not json", { "content-type": "application/json" })).toBe(400);
    expect(await post(JSON.stringify({ resourceSpans: [{ scopeSpans: [{ spans: [{ traceId: "zz", spanId: "00" }] }] }] }), { "content-type": "application/json" })).toBe(400);
    // Well-formed protobuf, but a span without ids is not a span.
    const idless = toBinary(TracesDataSchema, create(TracesDataSchema, { resourceSpans: [{ scopeSpans: [{ spans: [{ name: "no ids" }] }] }] }));
    expect(await post(idless, { "content-type": "application/x-protobuf" })).toBe(400);
    expect(await post("x", { "content-type": "text/plain" })).toBe(415);
    const elsewhere = await fetch(`${receiver.url}/v1/metrics`, { method: "POST", body: "", headers: { "content-type": "application/x-protobuf" } });
    expect(elsewhere.status).toBe(404);
    expect(receiver.traces()).toEqual([]);
  });
});
