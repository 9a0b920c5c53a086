// What the launcher's OTLP receiver keeps of a trace, and what the console's API answers with it: free
// of Node imports, so the console page (web/src) types its answers with the same definitions.

/** One span as the receiver keeps it. */
export interface ReceivedSpan {
  /** 32 lower-case hex digits. */
  traceId: string;
  /** 16 lower-case hex digits. */
  spanId: string;
  /** The parent's span id; absent for a trace's root (or a span whose exporter sent none). */
  parentSpanId?: string;
  name: string;
  kind: "INTERNAL" | "SERVER" | "CLIENT" | "PRODUCER" | "CONSUMER";
  /** The resource's service.name ("unknown_service" when it has none). */
  service: string;
  /** Start as milliseconds since the epoch (fractional). */
  startMs: number;
  durationMs: number;
  /** Attribute values; arrays and maps as their JSON, bytes as base64. */
  attributes: Record<string, string | number | boolean>;
  links: Array<{ traceId: string; spanId: string }>;
  status: { code: "UNSET" | "OK" | "ERROR"; message: string };
}

/** One trace in the receiver's list. */
export interface TraceSummary {
  traceId: string;
  /** Name of the root span, or of the earliest span while the root has not arrived. */
  rootName: string;
  /** service.name of its spans, in the order they started. */
  services: string[];
  spanCount: number;
  startMs: number;
  /** From the earliest start to the latest end among its spans. */
  durationMs: number;
}
