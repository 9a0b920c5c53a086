import * as grpc from "@grpc/grpc-js";
import { create, fromBinary, toBinary, type DescMessage, type DescMethodUnary, type MessageInitShape } from "@bufbuild/protobuf";
import { Code, ConnectError, type Transport } from "@connectrpc/connect";
import type { UnaryResponse } from "@connectrpc/connect";
import { StatusSchema } from "../../../gen/google/rpc/status_pb.js";
import type { TlsConfig } from "../identity/tls-config.js";
import { grpcChannelCredentials } from "../identity/tls-credentials.js";
import { isNatsServiceTarget, natsServiceChannelOptions } from "../discovery/nats-service-resolver.js";
import type { ReplicaDiscovery } from "../discovery/replica-discovery.js";
import { contextWith, injectTraceHeaders, isTracing } from "../telemetry/index.js";
import { endRpcSpan, startClientSpan } from "./rpc-spans.js";

type HeadersInit = ConstructorParameters<typeof Headers>[0];

/** Where and how the transport connects. */
export interface GrpcJsTransportOptions {
  /**
   * The upstream: `host:port`, a gRPC target such as `dns:///shipping:50052` (every address DNS
   * returns, e.g. a Kubernetes headless Service), or `nats-service:///shipping` (the replicas
   * registered with the NATS service API; needs `discovery`). Calls are spread round-robin.
   */
  address: string;
  /** Resolves `nats-service:///` targets. */
  discovery?: ReplicaDiscovery | undefined;
  /** Interval of HTTP/2 keepalive pings while calls are open, to notice a dead peer. Default 10 s. */
  keepaliveMs?: number;
  /** Upper bound of the reconnect backoff after the upstream went away. Default 2 s. */
  maxReconnectBackoffMs?: number;
  /** With a CA: TLS verified against it, presenting the identity as client certificate. Default plaintext. */
  tls?: TlsConfig | undefined;
}

/** A Connect transport that can also be closed. */
export interface ClosableTransport extends Transport {
  /** Closes the channel; calls in flight fail with CANCELLED. */
  close(): void;
}

/**
 * A Connect `Transport` for unary calls carried by one @grpc/grpc-js channel. Callers keep the typed
 * Connect client (`createClient(Service, transport)`) and ConnectError semantics; the wire is plain gRPC.
 * Measured here: ~175 µs of client CPU per call against ~400 µs for connect-node's gRPC transport, whose
 * generic streaming pipeline is built for every unary call (bench/README.md, finding 9).
 * Streaming methods are not supported (the mesh's internal contracts are unary).
 * While the process traces, each call is a CLIENT span (child of the active span) whose context goes
 * out as the call's traceparent. @opentelemetry/instrumentation-grpc does not fit: it patches
 * @grpc/grpc-js when it is require()d, and this module imports it as ESM, which such patching reaches
 * only through a loader hook (--experimental-loader) on every process; the span is a few lines here.
 */
export function createGrpcJsTransport(options: GrpcJsTransportOptions): ClosableTransport {
  const keepaliveMs = options.keepaliveMs ?? 10_000;
  if (isNatsServiceTarget(options.address) && !options.discovery) throw new Error(`${options.address} needs a replica discovery (NATS)`);
  const discovery = options.discovery && isNatsServiceTarget(options.address) ? natsServiceChannelOptions(options.discovery) : undefined;
  const client = new grpc.Client(options.address, grpcChannelCredentials(options.tls ?? { identity: undefined, ca: undefined }), {
    ...discovery?.options,
    // Every address the target resolves to gets a connection and a share of the calls; pick_first, the
    // default, would send everything to one replica. A replica that goes away is skipped at once.
    "grpc.service_config": JSON.stringify({ loadBalancingConfig: [{ round_robin: {} }] }),
    "grpc.keepalive_time_ms": keepaliveMs,
    "grpc.keepalive_timeout_ms": Math.min(keepaliveMs, 5_000),
    // grpc-js backs off up to 120 s by default: far too long for an upstream on the same LAN coming back.
    "grpc.initial_reconnect_backoff_ms": 100,
    "grpc.max_reconnect_backoff_ms": options.maxReconnectBackoffMs ?? 2_000,
  });
  const server = serverOf(options.address);
  return {
    unary<I extends DescMessage, O extends DescMessage>(
      method: DescMethodUnary<I, O>,
      signal: AbortSignal | undefined,
      timeoutMs: number | undefined,
      header: HeadersInit | undefined,
      input: MessageInitShape<I>,
    ): Promise<UnaryResponse<I, O>> {
      return new Promise((resolve, reject) => {
        if (signal?.aborted) return reject(ConnectError.from(signal.reason, Code.Canceled));
        const path = `/${method.parent.typeName}/${method.name}`;
        const span = isTracing() ? startClientSpan(path.slice(1), server) : undefined;
        const metadata = toMetadata(header);
        // Replaces a traceparent the caller set by hand: the call is the child of its own span.
        if (span) injectTraceHeaders(metadata, metadataSetter, contextWith(span));
        let responseMetadata: grpc.Metadata | undefined;
        let status: grpc.StatusObject | undefined;
        let onAbort: (() => void) | undefined;
        const call = client.makeUnaryRequest(
          path,
          (msg: MessageInitShape<I>) => Buffer.from(toBinary(method.input, create(method.input, msg))),
          (buf: Buffer) => fromBinary(method.output, buf),
          input,
          metadata,
          { deadline: timeoutMs === undefined || timeoutMs <= 0 ? Infinity : Date.now() + timeoutMs },
          (err, message) => {
            if (onAbort) signal?.removeEventListener("abort", onAbort);
            if (err || !message) {
              const error = toConnectError(err);
              endRpcSpan(span, "client", error.code, error.rawMessage);
              return reject(error);
            }
            endRpcSpan(span, "client", 0);
            resolve({
              stream: false,
              service: method.parent,
              method,
              message,
              // Headers objects are costly to build; unary clients read them only with onHeader/onTrailer.
              get header() {
                return toHeaders(responseMetadata);
              },
              get trailer() {
                return toHeaders(status?.metadata);
              },
            });
          },
        );
        call.on("metadata", (m) => (responseMetadata = m));
        call.on("status", (s) => (status = s));
        if (signal) {
          onAbort = () => call.cancel();
          signal.addEventListener("abort", onAbort, { once: true });
        }
      });
    },
    stream(method) {
      return Promise.reject(
        new ConnectError(`${method.parent.typeName}/${method.name}: streaming calls are not supported by the grpc-js transport`, Code.Unimplemented),
      );
    },
    close() {
      client.close();
      discovery?.release();
    },
  };
}

const metadataSetter = { set: (metadata: grpc.Metadata, key: string, value: string) => metadata.set(key, value) };

/** host and port of a target (the span's server.address and server.port): "host:port", "dns:///host:port", "nats-service:///name". */
function serverOf(target: string): { host: string; port: number | undefined } {
  const address = target.replace(/^(?:dns|nats-service):(?:\/\/[^/]*\/)?/, "");
  const match = /^(.*):(\d+)$/.exec(address);
  return match ? { host: match[1]!.replace(/^\[|\]$/g, ""), port: Number(match[2]) } : { host: address, port: undefined };
}

function toMetadata(header: HeadersInit | undefined): grpc.Metadata {
  const metadata = new grpc.Metadata();
  if (header) new Headers(header).forEach((value, key) => metadata.set(key, value));
  return metadata;
}

function toHeaders(metadata: grpc.Metadata | undefined): Headers {
  const headers = new Headers();
  for (const [key, value] of Object.entries(metadata?.getMap() ?? {})) {
    headers.set(key, Buffer.isBuffer(value) ? value.toString("base64") : value);
  }
  return headers;
}

/** grpc-js's ServiceError as ConnectError, with google.rpc.Status details from grpc-status-details-bin. */
function toConnectError(err: grpc.ServiceError | null): ConnectError {
  if (!err) return new ConnectError("upstream answered OK without a message", Code.Internal);
  const details = err.metadata?.get("grpc-status-details-bin")[0];
  const parsed = Buffer.isBuffer(details) ? tryParseStatus(details) : undefined;
  // grpc-js and Connect both use the gRPC status numbers.
  const error = new ConnectError(err.details, err.code as number as Code, toHeaders(err.metadata), undefined, err);
  for (const any of parsed?.details ?? []) {
    error.details.push({ type: any.typeUrl.slice(any.typeUrl.lastIndexOf("/") + 1), value: any.value });
  }
  return error;
}

function tryParseStatus(bytes: Buffer) {
  try {
    return fromBinary(StatusSchema, bytes);
  } catch {
    return undefined;
  }
}
