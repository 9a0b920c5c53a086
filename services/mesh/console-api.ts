import type { IncomingMessage, ServerResponse } from "node:http";
import { create, toJson, type DescMessage, type MessageShape } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import {
  DeadLetterSelectionSchema,
  GetDeadLetterResponseSchema,
  ListDeadLettersResponseSchema,
  ListFailedOutboxEventsResponseSchema,
  RedriveDeadLettersResponseSchema,
  DiscardDeadLettersResponseSchema,
  RetryFailedOutboxEventsResponseSchema,
  type DeadLetterSelection,
} from "../../gen/admin/v1/admin_pb.js";
import type { PartStatus, ServiceNumbers, ServicesAnswer, TraceAnswer, TracesAnswer } from "./console-contract.js";
import { adminServiceNames, type AdminAccess, type AdminServiceName, type ConsoleAdmin } from "./console-admin.js";
import {
  ConsoleInputError,
  readEventType,
  readId,
  readInt,
  readJsonBody,
  readList,
  readName,
  readPageToken,
  readSequence,
  readTraceId,
} from "./console-input.js";
import { isSameOrigin } from "./local-only.js";
import type { OtlpReceiver, ReceivedSpan } from "./otlp-receiver.js";
import type { ConsoleApiHandler } from "./web-page-server.js";

/** One process of the mesh as the console lists it. */
export interface ConsolePart {
  /** orders, shipping, notifier (shipping-1, shipping-2... with replicas), nats (nats-0... for a cluster), postgres. */
  name: string;
  /** "service": an ordermesh process with gRPC health and /metrics; "dependency": PostgreSQL, NATS. */
  kind: "service" | "dependency";
  /** Where it listens, by role: grpc, web, metrics, client, server... */
  addresses: Record<string, string>;
  /** SERVING / NOT_SERVING (grpc.health.v1) for services, UP for dependencies, or "error: ...". */
  health(): Promise<string>;
  /** Its numbers from /metrics; absent when its metrics port is off. */
  numbers?: (() => Promise<ServiceNumbers>) | undefined;
}

/** Where the services' traces go under this launcher. */
export type TracingMode = { mode: "receiver"; receiver: Pick<OtlpReceiver, "url" | "traces" | "trace"> } | { mode: "external"; endpoint: string } | { mode: "off" };

/** What the console API reads from the launcher. */
export interface ConsoleApiOptions {
  /** The parts the launcher started so far, in start order. */
  parts(): readonly ConsolePart[];
  /** orders' and shipping's AdminService, for dead letters and failed outbox rows. */
  admin: ConsoleAdmin;
  /** Where traces go: the launcher's receiver (then the console shows them), elsewhere, or off. */
  tracing: TracingMode;
}

type Handler = (req: IncomingMessage, url: URL, match: RegExpExecArray) => Promise<unknown>;

/**
 * The operator console's JSON API under /console/api/. The page server has already refused requests
 * that are not local (loopback listener, peer and Host); here every POST must also come from the
 * console's own origin (CSRF), and every input is bounded before anything is called.
 */
export function createConsoleApi(options: ConsoleApiOptions): ConsoleApiHandler {
  const routes: { method: "GET" | "POST"; path: RegExp; handle: Handler }[] = [
    { method: "GET", path: /^\/console\/api\/services$/, handle: () => listParts(options.parts()) },
    { method: "GET", path: /^\/console\/api\/dead-letters$/, handle: (_req, url) => listDeadLetters(options.admin, url) },
    { method: "GET", path: /^\/console\/api\/dead-letters\/([^/]+)\/([^/]+)$/, handle: (_req, _url, m) => getDeadLetter(options.admin, m[1]!, m[2]!) },
    { method: "POST", path: /^\/console\/api\/dead-letters\/(redrive|discard)$/, handle: (req, _url, m) => actOnDeadLetters(options.admin, m[1] as "redrive" | "discard", req) },
    { method: "GET", path: /^\/console\/api\/outbox\/([^/]+)\/failed$/, handle: (_req, url, m) => listFailedOutbox(options.admin, m[1]!, url) },
    { method: "POST", path: /^\/console\/api\/outbox\/([^/]+)\/retry$/, handle: (req, _url, m) => retryFailedOutbox(options.admin, m[1]!, req) },
    { method: "GET", path: /^\/console\/api\/traces$/, handle: (_req, url) => listTraces(options.tracing, url) },
    { method: "GET", path: /^\/console\/api\/traces\/([^/]+)$/, handle: (_req, _url, m) => getTrace(options.tracing, m[1]!) },
  ];
  return async (req, res, url) => {
    try {
      const candidates = routes.filter((r) => r.path.test(url.pathname));
      if (candidates.length === 0) throw new ConsoleInputError(404, `no such console API: ${url.pathname.slice(0, 100)}`);
      const route = candidates.find((r) => r.method === req.method);
      if (!route) {
        res.setHeader("allow", candidates.map((r) => r.method).join(", "));
        throw new ConsoleInputError(405, `use ${candidates.map((r) => r.method).join(" or ")}`);
      }
      if (route.method === "POST" && !isSameOrigin(req)) throw new ConsoleInputError(403, "cross-origin request refused: POST from the console's own page");
      send(res, 200, await route.handle(req, url, route.path.exec(url.pathname)!));
    } catch (err) {
      const { status, body } = errorAnswer(err);
      // A refused upload may still be arriving: do not read the rest of it on a kept-alive connection.
      if (status === 413) res.setHeader("connection", "close");
      send(res, status, body);
    }
  };
}

function send(res: ServerResponse, status: number, body: unknown): void {
  // No CORS headers: other origins' scripts must not read what the console shows.
  res.writeHead(status, { "content-type": "application/json; charset=utf-8", "cache-control": "no-store", "x-content-type-options": "nosniff" }).end(JSON.stringify(body));
}

const httpStatusOf: Partial<Record<Code, number>> = {
  [Code.InvalidArgument]: 400,
  [Code.NotFound]: 404,
  [Code.FailedPrecondition]: 409,
  [Code.PermissionDenied]: 403,
  [Code.Unauthenticated]: 401,
  [Code.ResourceExhausted]: 429,
  [Code.Unimplemented]: 501,
  [Code.Unavailable]: 503,
  [Code.DeadlineExceeded]: 504,
};

function errorAnswer(err: unknown): { status: number; body: { error: string; code?: string } } {
  if (err instanceof ConsoleInputError) return { status: err.status, body: { error: err.message } };
  if (err instanceof ConnectError) {
    // The AdminService's own answer, passed on with its gRPC code name so the page can say what happened.
    const code = Code[err.code].replace(/([a-z])([A-Z])/g, "$1_$2").toUpperCase();
    return { status: httpStatusOf[err.code] ?? 502, body: { error: err.rawMessage, code } };
  }
  return { status: 500, body: { error: err instanceof Error ? err.message : String(err) } };
}

async function listParts(parts: readonly ConsolePart[]): Promise<ServicesAnswer> {
  const settle = async <T>(read: (() => Promise<T>) | undefined): Promise<{ value?: T; error?: string }> => {
    if (!read) return {};
    try {
      return { value: await read() };
    } catch (err) {
      return { error: err instanceof Error ? err.message : String(err) };
    }
  };
  const rows = await Promise.all(
    parts.map(async (part): Promise<PartStatus> => {
      const [health, numbers] = await Promise.all([settle(() => part.health()), settle(part.numbers)]);
      return { name: part.name, kind: part.kind, addresses: part.addresses, health: health.value ?? `error: ${health.error}`, numbers: numbers.value, numbersError: numbers.error };
    }),
  );
  return { services: rows };
}

function readAdminService(service: string): AdminServiceName {
  if (!(adminServiceNames as readonly string[]).includes(service)) throw new ConsoleInputError(400, `service must be one of ${adminServiceNames.join(", ")}`);
  return service as AdminServiceName;
}

/** The service's AdminService; called once the request's inputs are known to be good. */
function adminOf(admin: ConsoleAdmin, service: AdminServiceName): AdminAccess {
  const access = admin.access(service);
  if (!access) throw new ConsoleInputError(503, `${service} is not running yet`);
  return access;
}

function json<S extends DescMessage>(schema: S, message: MessageShape<S>): unknown {
  return toJson(schema, message, { alwaysEmitImplicit: true });
}

// Dead letters of every family are visible through any service's AdminService; orders answers them.
async function listDeadLetters(admin: ConsoleAdmin, url: URL): Promise<unknown> {
  const q = url.searchParams;
  const filter = { stream: readName(q.get("stream"), "stream", true), consumer: readName(q.get("consumer"), "consumer", true), eventType: readEventType(q.get("event_type")) };
  const request = { filter, pageSize: readInt(q.get("page_size"), "page_size", 1, 1000, 100), pageToken: readPageToken(q.get("page_token")) };
  const { client, options } = adminOf(admin, "orders");
  return json(ListDeadLettersResponseSchema, await client.listDeadLetters(request, await options()));
}

async function getDeadLetter(admin: ConsoleAdmin, stream: string, sequence: string): Promise<unknown> {
  const ref = { stream: readName(stream, "stream"), sequence: readSequence(sequence) };
  const { client, options } = adminOf(admin, "orders");
  return json(GetDeadLetterResponseSchema, await client.getDeadLetter({ ref }, await options()));
}

/** The body's selection: {refs: [{stream, sequence}]}, {matching: {stream, consumer, event_type}} or {all: true}; exactly one. */
function readSelection(body: Record<string, unknown>): DeadLetterSelection {
  const given = ["refs", "matching", "all"].filter((key) => body[key] !== undefined);
  if (given.length !== 1) throw new ConsoleInputError(400, "say which dead letters with exactly one of refs, matching or all");
  if (body.refs !== undefined) {
    const refs = readList(body.refs, "refs").map((ref, i) => {
      const r = (typeof ref === "object" && ref !== null ? ref : {}) as Record<string, unknown>;
      return { stream: readName(r.stream, `refs[${i}].stream`), sequence: readSequence(r.sequence, `refs[${i}].sequence`) };
    });
    return create(DeadLetterSelectionSchema, { selection: { case: "refs", value: { refs } } });
  }
  if (body.matching !== undefined) {
    const m = (typeof body.matching === "object" && body.matching !== null ? body.matching : {}) as Record<string, unknown>;
    const matching = { stream: readName(m.stream, "matching.stream", true), consumer: readName(m.consumer, "matching.consumer", true), eventType: readEventType(m.event_type) };
    if (!matching.stream && !matching.consumer && !matching.eventType) throw new ConsoleInputError(400, "matching needs stream, consumer or event_type (all: true acts on every dead letter)");
    return create(DeadLetterSelectionSchema, { selection: { case: "matching", value: matching } });
  }
  if (body.all !== true) throw new ConsoleInputError(400, "all must be true when given");
  return create(DeadLetterSelectionSchema, { selection: { case: "all", value: true } });
}

async function actOnDeadLetters(admin: ConsoleAdmin, action: "redrive" | "discard", req: IncomingMessage): Promise<unknown> {
  const selection = readSelection(await readJsonBody(req));
  const { client, options } = adminOf(admin, "orders");
  if (action === "redrive") return json(RedriveDeadLettersResponseSchema, await client.redriveDeadLetters({ selection }, await options()));
  return json(DiscardDeadLettersResponseSchema, await client.discardDeadLetters({ selection }, await options()));
}

async function listFailedOutbox(admin: ConsoleAdmin, service: string, url: URL): Promise<unknown> {
  const name = readAdminService(service);
  const q = url.searchParams;
  const request = { pageSize: readInt(q.get("page_size"), "page_size", 1, 1000, 100), pageToken: readPageToken(q.get("page_token")) };
  const { client, options } = adminOf(admin, name);
  return json(ListFailedOutboxEventsResponseSchema, await client.listFailedOutboxEvents(request, await options()));
}

async function retryFailedOutbox(admin: ConsoleAdmin, service: string, req: IncomingMessage): Promise<unknown> {
  const name = readAdminService(service);
  const body = await readJsonBody(req);
  if ((body.ids === undefined) === (body.all === undefined)) throw new ConsoleInputError(400, "say which rows with exactly one of ids or all");
  if (body.all !== undefined && body.all !== true) throw new ConsoleInputError(400, "all must be true when given");
  const ids = body.ids === undefined ? [] : readList(body.ids, "ids").map((id, i) => readId(id, `ids[${i}]`));
  const access = adminOf(admin, name);
  const response = await access.client.retryFailedOutboxEvents({ ids, all: body.all === true }, await access.options());
  return json(RetryFailedOutboxEventsResponseSchema, response);
}

function receiverOf(tracing: TracingMode): Pick<OtlpReceiver, "traces" | "trace"> {
  if (tracing.mode === "receiver") return tracing.receiver;
  const where = tracing.mode === "external" ? `the services export to ${tracing.endpoint} (OTEL_EXPORTER_OTLP_ENDPOINT)` : "tracing is off (OTEL_SDK_DISABLED)";
  throw new ConsoleInputError(404, `no traces kept here: ${where}`);
}

/** Whether the span names the order: any attribute holding its id (order ids are UUIDs, so no other value equals one). */
function mentions(span: ReceivedSpan, orderId: string): boolean {
  return Object.values(span.attributes).some((value) => value === orderId);
}

async function listTraces(tracing: TracingMode, url: URL): Promise<TracesAnswer> {
  const q = url.searchParams;
  const limit = readInt(q.get("limit"), "limit", 1, 200, 50);
  const orderId = q.get("order_id") ? readId(q.get("order_id"), "order_id") : undefined;
  if (tracing.mode !== "receiver") return { tracing: tracing.mode, traces: [] };
  const receiver = receiverOf(tracing);
  let traces = receiver.traces();
  if (orderId) traces = traces.filter((t) => receiver.trace(t.traceId)?.some((span) => mentions(span, orderId)));
  return { tracing: tracing.mode, traces: traces.slice(0, limit) };
}

async function getTrace(tracing: TracingMode, traceId: string): Promise<TraceAnswer> {
  const id = readTraceId(traceId);
  const spans = receiverOf(tracing).trace(id);
  if (!spans) throw new ConsoleInputError(404, `no trace ${id} kept (the launcher keeps the last ones it received)`);
  return { traceId: id, spans };
}
