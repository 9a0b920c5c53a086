import type { DescService, Message } from "@bufbuild/protobuf";
import { Code, ConnectError, type HandlerContext, type ServiceImpl } from "@connectrpc/connect";
import { runWithQuerySignal } from "../db/query-cancellation.js";
import { sqlStateOf } from "../db/sql-state.js";
import { admit, type AccessPolicy } from "../identity/access-policy.js";
import type { CallerAuthenticator } from "../identity/jwt-auth.js";
import { createLoadShedder, type LoadShedder } from "./load-shedding.js";
import type { Logger } from "../process/logger.js";
import { nulCharacterViolations } from "./nul-characters.js";
import { defaultServerLimits } from "./server-limits.js";
import { invalidArgument } from "./rpc-errors.js";
import { endRpcSpan, startServerSpan } from "./rpc-spans.js";
import { runInContext, type Span } from "../telemetry/index.js";
import { observeRpc } from "../metrics/rpc-metrics.js";

/** A service description paired with its handlers, ready to mount on any transport. */
export interface ServiceBinding<S extends DescService = DescService> {
  service: S;
  impl: ServiceImpl<S>;
  /** Who may call it; checked before every handler on every transport. */
  access: AccessPolicy;
}

/**
 * Pairs a service with its handlers and its access policy (default "open": health-like services and test
 * stubs), keeping the handler types checked against the descriptor.
 */
export function bindService<S extends DescService>(service: S, impl: ServiceImpl<S>, access: AccessPolicy = "open"): ServiceBinding {
  return { service, impl, access } as unknown as ServiceBinding;
}

type UnaryFn = (req: unknown, ctx: HandlerContext) => unknown;
type ServerStreamFn = (req: unknown, ctx: HandlerContext) => AsyncIterable<unknown>;

/**
 * Wraps every handler once for all transports: sheds calls beyond the process's in-flight limit,
 * admits the caller by the binding's access policy, refuses strings with NUL characters, cancels the
 * handler's database queries when the call ends early, logs method, code and duration, and turns
 * unexpected exceptions into INTERNAL (a statement that ran out of time into DEADLINE_EXCEEDED, an
 * unreachable database into UNAVAILABLE) so no stack trace or SQL text reaches a client. Every call's
 * duration and code also go to ordermesh_rpc_server_duration_seconds (platform/metrics), and, while the
 * process traces, to a SERVER span parented to the caller's traceparent, active while the checks and
 * the handler run (so their database and client spans, and log lines, belong to it).
 * Server-streaming handlers get the same checks (see instrumentServerStream for how they are shed);
 * `streamsDrain` aborting (the host is shutting down) ends every open stream with its reason, so a
 * stream never holds a shutdown for its grace period.
 */
export function instrumentService(
  binding: ServiceBinding,
  logger: Logger,
  shedder: LoadShedder = createLoadShedder(defaultServerLimits.maxInFlightCalls),
  authenticator?: CallerAuthenticator,
  streamsDrain?: AbortSignal,
): ServiceBinding {
  if (binding.access === "customer-token" && !authenticator) {
    throw new Error(`${binding.service.typeName} requires a customer token, but no authenticator was configured`);
  }
  const wrapped: Record<string, UnaryFn | ServerStreamFn> = {};
  const impl = binding.impl as unknown as Record<string, UnaryFn>;
  for (const method of binding.service.methods) {
    const handler = impl[method.localName];
    if (!handler) continue;
    const rpc = `/${binding.service.typeName}/${method.name}`;
    const spanName = `${binding.service.typeName}/${method.name}`;
    const observe = (protocol: string, code: Code | 0, started: number) => observeRpc(binding.service.typeName, method.name, protocol, code, (performance.now() - started) / 1000);
    // Runs the checks every call passes before its handler; they throw to refuse.
    const checks = async (req: unknown, ctx: HandlerContext) => {
      await admit(binding.access, ctx, authenticator);
      const nul = nulCharacterViolations(method.input, req as Message);
      if (nul.length > 0) throw invalidArgument(nul);
    };
    if (method.methodKind === "server_streaming") {
      wrapped[method.localName] = instrumentServerStream(rpc, spanName, handler as unknown as ServerStreamFn, checks, { logger, shedder, streamsDrain, observe });
      continue;
    }
    const unary = async (req: unknown, ctx: HandlerContext, span: Span | undefined) => {
      const started = performance.now();
      try {
        // Shed first, so an overload costs no token verification; admit before the request's checks, so
        // an unauthenticated caller learns nothing about the request's validity.
        const res = await shedder.run(async () => {
          await checks(req, ctx);
          // The call's signal goes with its database work: queries still running when it aborts are cancelled.
          return runWithQuerySignal(ctx.signal, () => handler(req, ctx));
        });
        logger.info({ rpc, code: "OK", durationMs: elapsed(started), protocol: ctx.protocolName }, "rpc");
        observe(ctx.protocolName, 0, started);
        endRpcSpan(span, "server", 0);
        return res;
      } catch (err) {
        const error = toClientError(err, ctx, logger, rpc);
        logger.info({ rpc, code: Code[error.code], durationMs: elapsed(started), protocol: ctx.protocolName, error: boundedLogText(error.rawMessage) }, "rpc");
        observe(ctx.protocolName, error.code, started);
        endRpcSpan(span, "server", error.code, error.rawMessage);
        throw error;
      }
    };
    wrapped[method.localName] = (req, ctx) => {
      const traced = startServerSpan(spanName, ctx);
      return traced ? runInContext(traced.context, () => unary(req, ctx, traced.span)) : unary(req, ctx, undefined);
    };
  }
  return { service: binding.service, impl: wrapped as unknown as ServiceImpl<DescService>, access: binding.access };
}

/**
 * A server-streaming handler with the unary path's checks and logging. A stream may stay open for
 * hours, so it holds an in-flight slot of the load shedder only while it is admitted and its first
 * message is produced (the part that costs database work); after that it waits for events without
 * one, and the service bounds its open streams itself (OrderService: MAX_WATCHERS), beside
 * MAX_CONCURRENT_STREAMS and MAX_CONNECTIONS. Its context's signal also aborts when streamsDrain does.
 * One "rpc" log line when the stream ends, with the messages sent.
 */
function instrumentServerStream(
  rpc: string,
  spanName: string,
  handler: ServerStreamFn,
  checks: (req: unknown, ctx: HandlerContext) => Promise<void>,
  { logger, shedder, streamsDrain, observe }: { logger: Logger; shedder: LoadShedder; streamsDrain: AbortSignal | undefined; observe(protocol: string, code: Code | 0, started: number): void },
): ServerStreamFn {
  return async function* (req, ctx) {
    const started = performance.now();
    const stream = linkSignal(ctx, streamsDrain);
    const fields = () => ({ rpc, durationMs: elapsed(started), protocol: ctx.protocolName, messages });
    // A generator's body runs in the context of whoever pulls it, so each step enters the span's context itself.
    const traced = startServerSpan(spanName, ctx);
    const inSpan = <T>(fn: () => T): T => runInContext(traced?.context, fn);
    let iterator: AsyncIterator<unknown> | undefined;
    let messages = 0;
    let logged = false;
    try {
      const first = await inSpan(() =>
        shedder.run(async () => {
          await checks(req, ctx);
          iterator = handler(req, stream.ctx)[Symbol.asyncIterator]();
          // The first message is the stream's database work (e.g. WatchOrder's read): cancelled with the call.
          return runWithQuerySignal(stream.ctx.signal, () => iterator!.next());
        }),
      );
      for (let next = first; !next.done; next = await inSpan(() => iterator!.next())) {
        yield next.value;
        messages++;
      }
      logged = true;
      inSpan(() => logger.info({ ...fields(), code: "OK" }, "rpc"));
      observe(ctx.protocolName, 0, started);
      endRpcSpan(traced?.span, "server", 0);
    } catch (err) {
      const error = toClientError(err, stream.ctx, logger, rpc);
      logged = true;
      inSpan(() => logger.info({ ...fields(), code: Code[error.code], error: boundedLogText(error.rawMessage) }, "rpc"));
      observe(ctx.protocolName, error.code, started);
      endRpcSpan(traced?.span, "server", error.code, error.rawMessage);
      throw error;
    } finally {
      stream.release();
      // The transport stopped pulling (the client went away while a message was being written).
      if (!logged) {
        inSpan(() => logger.info({ ...fields(), code: Code[Code.Canceled] }, "rpc"));
        observe(ctx.protocolName, Code.Canceled, started);
        endRpcSpan(traced?.span, "server", Code.Canceled);
      }
      await iterator?.return?.();
    }
  };
}

/** ctx with a signal that also aborts when `also` does (with its reason); release() detaches it. */
function linkSignal(ctx: HandlerContext, also: AbortSignal | undefined): { ctx: HandlerContext; release(): void } {
  if (!also) return { ctx, release: () => undefined };
  const linked = new AbortController();
  const fromCall = () => linked.abort(ctx.signal.reason);
  const fromAlso = () => linked.abort(also.reason);
  if (ctx.signal.aborted) fromCall();
  else if (also.aborted) fromAlso();
  ctx.signal.addEventListener("abort", fromCall, { once: true });
  also.addEventListener("abort", fromAlso, { once: true });
  return {
    ctx: { ...ctx, signal: linked.signal },
    release() {
      ctx.signal.removeEventListener("abort", fromCall);
      also.removeEventListener("abort", fromAlso);
    },
  };
}

function toClientError(err: unknown, ctx: HandlerContext, logger: Logger, rpc: string): ConnectError {
  if (err instanceof ConnectError) return err;
  // The caller's deadline or cancellation surfaces as an abort from postgres.js or a client call.
  if (ctx.signal.aborted) return ConnectError.from(ctx.signal.reason, Code.Canceled);
  // The database's statement_timeout cut the work (a lock held too long, an overloaded server): the
  // call did not finish in time, like a deadline of its own. The transaction rolled back, and
  // DEADLINE_EXCEEDED is retryable for the mesh's clients (isRetryableCode).
  if (sqlStateOf(err) === "57014") {
    logger.warn({ rpc, err }, "database statement timed out");
    return new ConnectError("database statement timed out", Code.DeadlineExceeded);
  }
  // An unreachable database is a transient outage the caller may retry (UNAVAILABLE), not a bug (INTERNAL).
  if (isConnectionError(err)) {
    logger.warn({ rpc, err }, "database unavailable");
    return new ConnectError("database unavailable", Code.Unavailable);
  }
  logger.error({ rpc, err }, "unhandled error in handler");
  return new ConnectError("internal error", Code.Internal);
}

// postgres.js connection failures, socket errors, and SQLSTATE class 08 (connection exception) or
// 57P01-57P03 (server shutting down / starting up); drizzle wraps them, so the cause chain is walked.
const connectionErrorCodes = new Set(["CONNECTION_CLOSED", "CONNECTION_ENDED", "CONNECTION_DESTROYED", "CONNECT_TIMEOUT", "ECONNREFUSED", "ECONNRESET", "EPIPE", "ETIMEDOUT", "EHOSTUNREACH", "57P01", "57P02", "57P03"]);

function isConnectionError(err: unknown): boolean {
  for (let e = err, depth = 0; e instanceof Error && depth < 5; e = e.cause, depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === "string" && (connectionErrorCodes.has(code) || code.startsWith("08"))) return true;
  }
  return false;
}

// A log line is read by people and shipped by collectors with their own line limits; a client's error
// message is already bounded (rpc-errors.ts), this also bounds whatever else a handler put in one.
const maxLoggedErrorChars = 1000;

function boundedLogText(text: string): string {
  return text.length <= maxLoggedErrorChars ? text : `${text.slice(0, maxLoggedErrorChars)}… (${text.length - maxLoggedErrorChars} more characters)`;
}

function elapsed(started: number): number {
  return Math.round((performance.now() - started) * 1000) / 1000;
}
