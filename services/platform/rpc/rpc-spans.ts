import { Code, type HandlerContext } from "@connectrpc/connect";
import { ATTR_ERROR_TYPE, ATTR_RPC_METHOD, ATTR_RPC_STATUS_CODE, ATTR_RPC_SYSTEM_NAME, ATTR_SERVER_ADDRESS, ATTR_SERVER_PORT, RPC_SYSTEM_NAME_VALUE_GRPC } from "@opentelemetry/semantic-conventions";
import { RPC_SYSTEM_NAME_VALUE_CONNECTRPC } from "@opentelemetry/semantic-conventions/incubating";
import { rpcCodeName } from "../metrics/rpc-metrics.js";
import { contextFromHeaders, contextWith, isTracing, SpanKind, SpanStatusCode, startSpan, type Context, type Span } from "../telemetry/index.js";

/** The wire protocol of a served call (grpc, grpc-web, connect): one port serves all three, so spans say which. */
export const rpcProtocolAttribute = "ordermesh.rpc.protocol";

// The RPC conventions' error statuses: a server marks only the codes that say it failed (a caller's bad
// request is not the server's error); a client marks every code but OK.
const serverErrors = new Set<Code | 0>([Code.Unknown, Code.DeadlineExceeded, Code.Unimplemented, Code.Internal, Code.Unavailable, Code.DataLoss]);

/** A SERVER span of a call and the context its handler runs in. */
export interface ServerSpan {
  span: Span;
  context: Context;
}

/**
 * Starts the SERVER span of a call, named "<package.Service>/<Method>" (rpc.method), parented to the
 * caller's traceparent; undefined while not tracing. Connect-protocol calls report rpc.system.name
 * connectrpc, gRPC and gRPC-Web calls grpc.
 */
export function startServerSpan(method: string, ctx: HandlerContext): ServerSpan | undefined {
  const parent = contextFromHeaders(ctx.requestHeader);
  if (!parent) return undefined;
  const span = startSpan(method, {
    kind: SpanKind.SERVER,
    parent,
    attributes: {
      [ATTR_RPC_SYSTEM_NAME]: ctx.protocolName === "connect" ? RPC_SYSTEM_NAME_VALUE_CONNECTRPC : RPC_SYSTEM_NAME_VALUE_GRPC,
      [ATTR_RPC_METHOD]: method,
      [rpcProtocolAttribute]: ctx.protocolName,
    },
  });
  return span && { span, context: contextWith(span, parent)! };
}

/** Starts the CLIENT span of an outgoing gRPC call to host:port; undefined while not tracing. */
export function startClientSpan(method: string, server: { host: string; port: number | undefined }): Span | undefined {
  if (!isTracing()) return undefined;
  return startSpan(method, {
    kind: SpanKind.CLIENT,
    attributes: {
      [ATTR_RPC_SYSTEM_NAME]: RPC_SYSTEM_NAME_VALUE_GRPC,
      [ATTR_RPC_METHOD]: method,
      [ATTR_SERVER_ADDRESS]: server.host,
      ...(server.port === undefined ? {} : { [ATTR_SERVER_PORT]: server.port }),
    },
  });
}

/** Ends an RPC span with its status code (rpc.status_code, the gRPC name); error codes as the conventions say. */
export function endRpcSpan(span: Span | undefined, side: "server" | "client", code: Code | 0, message?: string): void {
  if (!span) return;
  const name = rpcCodeName(code);
  span.setAttribute(ATTR_RPC_STATUS_CODE, name);
  if (code !== 0 && (side === "client" || serverErrors.has(code))) {
    span.setAttribute(ATTR_ERROR_TYPE, name);
    span.setStatus({ code: SpanStatusCode.ERROR, message });
  }
  span.end();
}
