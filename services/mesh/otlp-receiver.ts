import * as http from "node:http";
import type { AddressInfo } from "node:net";

// PLACEHOLDER until feat/traces lands with the real receiver (same interface): OTLP/HTTP JSON only,
// enough for the operator console to be written and tested against. Drop this commit on merge.

/** One span as the launcher keeps it. */
export interface ReceivedSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string | undefined;
  name: string;
  /** INTERNAL, SERVER, CLIENT, PRODUCER or CONSUMER. */
  kind: string;
  /** The resource's service.name. */
  service: string;
  startMs: number;
  durationMs: number;
  attributes: Record<string, unknown>;
  links: { traceId: string; spanId: string; attributes?: Record<string, unknown> }[];
  status: { code: string; message?: string | undefined };
}

/** A kept trace in a list: newest first. */
export interface TraceSummary {
  traceId: string;
  rootName: string;
  services: string[];
  spanCount: number;
  startMs: number;
  durationMs: number;
}

/** A running receiver. */
export interface OtlpReceiver {
  /** Base URL for OTEL_EXPORTER_OTLP_ENDPOINT (exporters append /v1/traces). */
  url: string;
  traces(): TraceSummary[];
  trace(traceId: string): ReceivedSpan[] | undefined;
  close(): Promise<void>;
}

const kinds = ["UNSPECIFIED", "INTERNAL", "SERVER", "CLIENT", "PRODUCER", "CONSUMER"];
const statusCodes = ["UNSET", "OK", "ERROR"];

interface OtlpValue {
  stringValue?: string;
  intValue?: string | number;
  doubleValue?: number;
  boolValue?: boolean;
}

function attributesOf(list: { key: string; value?: OtlpValue }[] | undefined): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const { key, value } of list ?? []) out[key] = value?.stringValue ?? value?.intValue ?? value?.doubleValue ?? value?.boolValue;
  return out;
}

/** Starts an OTLP/HTTP receiver keeping the last maxTraces traces (each at most maxSpansPerTrace spans) in memory. */
export async function startOtlpReceiver(options: { host: string; port: number; maxTraces?: number; maxSpansPerTrace?: number }): Promise<OtlpReceiver> {
  const maxTraces = options.maxTraces ?? 200;
  const maxSpans = options.maxSpansPerTrace ?? 2000;
  // Insertion order is arrival order of each trace's first span; the oldest goes first.
  const kept = new Map<string, ReceivedSpan[]>();
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on("data", (c: Buffer) => {
      size += c.length;
      if (size > 4 * 1024 * 1024) req.destroy();
      else chunks.push(c);
    });
    req.on("end", () => {
      if (req.method !== "POST" || req.url !== "/v1/traces" || !String(req.headers["content-type"]).startsWith("application/json")) {
        res.writeHead(req.url === "/v1/traces" ? 415 : 404).end();
        return;
      }
      try {
        const body = JSON.parse(Buffer.concat(chunks).toString("utf8")) as {
          resourceSpans?: { resource?: { attributes?: [] }; scopeSpans?: { spans?: Record<string, never>[] }[] }[];
        };
        for (const rs of body.resourceSpans ?? []) {
          const service = String(attributesOf(rs.resource?.attributes)["service.name"] ?? "unknown");
          for (const ss of rs.scopeSpans ?? []) for (const s of ss.spans ?? []) add(s, service);
        }
        res.writeHead(200, { "content-type": "application/json" }).end("{}");
      } catch {
        res.writeHead(400).end();
      }
    });
  });
  function add(s: Record<string, unknown>, service: string): void {
    const traceId = String(s.traceId);
    let spans = kept.get(traceId);
    if (!spans) {
      kept.set(traceId, (spans = []));
      if (kept.size > maxTraces) kept.delete(kept.keys().next().value!);
    }
    if (spans.length >= maxSpans) return;
    const start = Number(BigInt(String(s.startTimeUnixNano ?? 0)) / 1000n) / 1000;
    const end = Number(BigInt(String(s.endTimeUnixNano ?? 0)) / 1000n) / 1000;
    const status = (s.status ?? {}) as { code?: number; message?: string };
    spans.push({
      traceId,
      spanId: String(s.spanId),
      parentSpanId: s.parentSpanId ? String(s.parentSpanId) : undefined,
      name: String(s.name),
      kind: kinds[Number(s.kind ?? 0)] ?? "UNSPECIFIED",
      service,
      startMs: start,
      durationMs: end - start,
      attributes: attributesOf(s.attributes as []),
      links: ((s.links ?? []) as { traceId: string; spanId: string; attributes?: [] }[]).map((l) => ({ traceId: l.traceId, spanId: l.spanId, attributes: attributesOf(l.attributes) })),
      status: { code: statusCodes[status.code ?? 0] ?? "UNSET", message: status.message },
    });
  }
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port, options.host, () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://${options.host}:${port}`,
    traces() {
      return [...kept.entries()].reverse().map(([traceId, spans]) => {
        const ids = new Set(spans.map((s) => s.spanId));
        const root = spans.find((s) => !s.parentSpanId || !ids.has(s.parentSpanId)) ?? spans[0]!;
        const startMs = Math.min(...spans.map((s) => s.startMs));
        const endMs = Math.max(...spans.map((s) => s.startMs + s.durationMs));
        return { traceId, rootName: root.name, services: [...new Set(spans.map((s) => s.service))], spanCount: spans.length, startMs, durationMs: endMs - startMs };
      });
    },
    trace: (traceId) => kept.get(traceId)?.slice(),
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
