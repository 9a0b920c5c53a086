import {
  context,
  isSpanContextValid,
  propagation,
  ROOT_CONTEXT,
  SpanKind,
  SpanStatusCode,
  trace,
  type Attributes,
  type Context,
  type Link,
  type Span,
  type TextMapGetter,
  type TextMapSetter,
} from "@opentelemetry/api";

export { SpanKind, SpanStatusCode };
export type { Attributes, Context, Link, Span };

// Set by startTelemetry. Every helper below checks it first, so a process that does not trace runs its
// hot paths without creating a span, a context or a carrier object (the API's no-op tracer would still
// allocate a non-recording span per call and a context per `with`).
let tracing = false;

/** The tracer of every ordermesh span; the API's proxy, which delegates to the SDK once startTelemetry registered it. */
const tracer = trace.getTracer("ordermesh");

/** Whether this process traces (startTelemetry found an endpoint); false: every helper here is a pass-through. */
export function isTracing(): boolean {
  return tracing;
}

/** @private Switched by startTelemetry and its shutdown only. */
export function setTracing(on: boolean): void {
  tracing = on;
}

/** How a span starts. */
export interface SpanStart {
  kind?: SpanKind;
  attributes?: Attributes;
  links?: Link[];
  /** The parent: default the active context. */
  parent?: Context;
  /** Start a new trace whatever is active (e.g. a timer's job that is not part of the work that armed it). */
  root?: boolean;
  /**
   * Start no span when the parent has none (e.g. a store call outside any RPC, event or job): a
   * parentless database call would be a one-span trace of its own, noise in every trace list.
   */
  requireParent?: boolean;
}

/** Starts a span (not made active) or, while not tracing or when requireParent finds no parent, returns undefined. */
export function startSpan(name: string, start: SpanStart = {}): Span | undefined {
  if (!tracing) return undefined;
  const parent = parentOf(start);
  if (start.requireParent && !trace.getSpan(parent)) return undefined;
  return tracer.startSpan(name, { kind: start.kind ?? SpanKind.INTERNAL, attributes: start.attributes, links: start.links }, parent);
}

/**
 * Runs fn inside a new active span and ends it when fn settles; a throw or rejection marks it ERROR
 * (error.type = the error's name) and is passed on. While not tracing: fn(undefined), nothing else.
 */
export function withSpan<T>(name: string, start: SpanStart, fn: (span: Span | undefined) => Promise<T>): Promise<T> {
  const span = startSpan(name, start);
  if (!span) return fn(undefined);
  return context.with(trace.setSpan(parentOf(start), span), () => fn(span)).then(
    (value) => {
      span.end();
      return value;
    },
    (err: unknown) => {
      endWithError(span, err);
      throw err;
    },
  );
}

function parentOf(start: SpanStart): Context {
  return start.parent ?? (start.root ? ROOT_CONTEXT : context.active());
}

/** Marks the span failed with the error (status ERROR, error.type, the message) and ends it. */
export function endWithError(span: Span, err: unknown, errorType?: string): void {
  span.setAttribute("error.type", errorType ?? (err instanceof Error ? err.name : "Error"));
  span.setStatus({ code: SpanStatusCode.ERROR, message: err instanceof Error ? err.message : String(err) });
  span.end();
}

/** The context with this span active under parent (default the active context); undefined while not tracing. */
export function contextWith(span: Span | undefined, parent?: Context): Context | undefined {
  return span && trace.setSpan(parent ?? context.active(), span);
}

/** Runs fn with ctx as the active context; fn() as is when ctx is undefined (not tracing). */
export function runInContext<T>(ctx: Context | undefined, fn: () => T): T {
  return ctx ? context.with(ctx, fn) : fn();
}

const objectSetter: TextMapSetter<Record<string, string>> = { set: (carrier, key, value) => (carrier[key] = value) };

/**
 * The W3C traceparent of ctx's span (default: the active one), as stored on outbox rows and sent in
 * headers; undefined while not tracing or without a valid span. The propagator writes it, so its
 * format is defined in one place.
 */
export function traceparentOf(ctx?: Context): string | undefined {
  if (!tracing) return undefined;
  const active = ctx ?? context.active();
  const spanContext = trace.getSpanContext(active);
  if (!spanContext || !isSpanContextValid(spanContext)) return undefined;
  const carrier: Record<string, string> = {};
  propagation.inject(active, carrier, objectSetter);
  return carrier.traceparent;
}

/** Headers as Fetch, nats.js and the rest expose them: a case-insensitive get. */
interface GettableHeaders {
  get(name: string): string | null | undefined;
}

const headersGetter: TextMapGetter<GettableHeaders> = {
  get: (carrier, key) => carrier.get(key) ?? undefined,
  // The W3C propagator asks for its two headers by name and never lists them.
  keys: () => [],
};

/**
 * The context a caller's trace headers (traceparent, tracestate) describe, as the parent of the span
 * that handles them; ROOT_CONTEXT when they are absent or malformed (a malformed one starts a new
 * trace, it is not propagated). Undefined while not tracing.
 */
export function contextFromHeaders(headers: GettableHeaders | undefined): Context | undefined {
  if (!tracing) return undefined;
  return headers ? propagation.extract(ROOT_CONTEXT, headers, headersGetter) : ROOT_CONTEXT;
}

/** The context a stored traceparent describes (see contextFromHeaders); undefined while not tracing. */
export function contextFromTraceparent(traceparent: string | null | undefined): Context | undefined {
  if (!tracing) return undefined;
  return traceparent ? propagation.extract(ROOT_CONTEXT, { traceparent }, { get: (c, k) => c[k as "traceparent"], keys: (c) => Object.keys(c) }) : ROOT_CONTEXT;
}

/** A link to the span a context holds (e.g. a message's producer), or undefined when it holds none. */
export function linkTo(ctx: Context | undefined): Link | undefined {
  const spanContext = ctx && trace.getSpanContext(ctx);
  return spanContext && isSpanContextValid(spanContext) ? { context: spanContext } : undefined;
}

/** Writes the trace headers of ctx (default: the active context) through the setter; nothing while not tracing. */
export function injectTraceHeaders<C>(carrier: C, setter: TextMapSetter<C>, ctx?: Context): void {
  if (!tracing) return;
  propagation.inject(ctx ?? context.active(), carrier, setter);
}
