import * as http from "node:http";
import * as http2 from "node:http2";
import * as net from "node:net";
import * as tls from "node:tls";
import { Duplex } from "node:stream";
import { cors as connectCors } from "@connectrpc/connect";
import { connectNodeAdapter } from "@connectrpc/connect-node";
import { clampDeadlineHeaders } from "./deadline-limits.js";
import { webPeerContextValues } from "../identity/peer-identity.js";
import { capListsOfRequests } from "./list-caps.js";
import { enforcePingPolicy } from "./ping-policy.js";
import type { ServerLimits } from "./server-limits.js";
import type { ServiceBinding } from "./service-impl.js";
import type { TlsConfig } from "../identity/tls-config.js";
import { webServerTlsOptions } from "../identity/tls-credentials.js";
import { answerUndecodableAsInvalidArgument } from "./undecodable-requests.js";

/** Options of the browser-facing listener. */
export interface WebServerOptions {
  host: string;
  port: number;
  services: readonly ServiceBinding[];
  /** Origins allowed by CORS (exact matches; config refuses "*" and "null"). */
  corsOrigins: readonly string[];
  /** Request size, connection cap, streams per connection and timeouts. */
  limits: ServerLimits;
  /** Aborted when the process shuts down, so in-flight handlers see it. */
  shutdownSignal: AbortSignal;
  /** TLS with ALPN instead of cleartext sniffing when it has an identity; omitted: plaintext. */
  tls?: TlsConfig | undefined;
}

/** A running web listener. */
export interface WebServer {
  port: number;
  /** Whether the port speaks TLS. */
  tls: boolean;
  close(graceMs: number): Promise<void>;
}

const h2Preface = Buffer.from("PRI * HTTP/2.0\r\n");

/**
 * Serves the same handlers as the gRPC port over Connect, gRPC-Web and gRPC, on HTTP/1.1 (browsers)
 * and h2c (curl --http2-prior-knowledge, Connect clients) on a single port, with CORS for browsers.
 */
export async function startWebServer(options: WebServerOptions): Promise<WebServer> {
  const handler = connectNodeAdapter({
    routes: (router) => {
      options.services.forEach((s) => router.service(s.service, s.impl));
      // The adapter reads the router's handlers once this returns; each is replaced by its wrapped self.
      router.handlers.forEach((h, i) => (router.handlers[i] = answerUndecodableAsInvalidArgument(capListsOfRequests(h, options.limits.maxRequestBytes))));
    },
    shutdownSignal: options.shutdownSignal,
    // The verified mTLS peer (if any) reaches handlers the way grpc-adapter passes it on the gRPC port.
    contextValues: webPeerContextValues,
    // Bounds the body and, for gzip, its inflated size; connect-es refuses a larger Content-Length or
    // envelope length prefix before reading the body, so a 50 MB upload is never buffered.
    readMaxBytes: options.limits.maxRequestBytes,
  });
  const { limits } = options;
  let closing = false;
  // A request that arrives once the drain began is refused at once (503: UNAVAILABLE for Connect and
  // gRPC-Web clients) rather than run: its work could outlive the grace period and be cut unanswered.
  const withCors = corsHandler(options.corsOrigins, (req, res) => {
    if (closing) return refuseWhileClosing(res);
    clampDeadlineHeaders(req.headers);
    handler(req, res);
  });
  // HTTP/1.1 keep-alive connections with a response in progress, and those responses.
  const busy = new Map<net.Socket, number>();
  const inFlight = new Set<http.ServerResponse>();
  const h1 = http.createServer(
    {
      headersTimeout: limits.headersTimeoutMs,
      requestTimeout: limits.requestTimeoutMs,
      keepAliveTimeout: limits.idleTimeoutMs,
      // How often Node looks for requests past their timeouts (default 30 s, longer than the timeouts).
      connectionsCheckingInterval: Math.min(1000, limits.headersTimeoutMs),
    },
    (req, res) => {
    const socket = req.socket;
    busy.set(socket, (busy.get(socket) ?? 0) + 1);
    inFlight.add(res);
    res.once("close", () => {
      inFlight.delete(res);
      const left = (busy.get(socket) ?? 1) - 1;
      if (left > 0) busy.set(socket, left);
      else busy.delete(socket);
      if (closing && inFlight.size === 0) closeIdleConnections();
    });
    // An answer sent before the body was read (too large, say) closes the connection: connect-node stops
    // reading mid-body, and a keep-alive client's next request would wait behind the unread rest forever.
    // The rest is still read and discarded, up to the limit, so the client is not reset before it has read
    // its answer; a client that keeps sending (a 50 MB upload) is cut off there.
    const writeHead = res.writeHead;
    res.writeHead = function (this: http.ServerResponse, ...args: Parameters<typeof writeHead>) {
      if (!req.complete) this.shouldKeepAlive = false;
      return writeHead.apply(this, args);
    } as typeof writeHead;
    res.once("finish", () => {
      if (req.complete) return;
      let discarded = 0;
      socket.on("data", (chunk: Buffer) => {
        discarded += chunk.length;
        if (discarded > limits.maxRequestBytes) socket.destroy();
      });
      socket.resume();
    });
    withCors(req, res);
  });
  const h2 = http2.createServer({ settings: { maxConcurrentStreams: limits.maxConcurrentStreams } }, withCors);
  const sessions = new Set<http2.ServerHttp2Session>();
  h2.on("session", (session) => {
    sessions.add(session);
    session.once("close", () => sessions.delete(session));
    enforcePingPolicy(session);
    // GOAWAY after a while without frames; streams still running finish first.
    session.setTimeout(limits.idleTimeoutMs, () => session.close());
    // A connection that spoke HTTP/2 only after the drain began gets its GOAWAY straight away.
    if (closing) session.close();
  });
  const sockets = new Set<net.Socket>();
  const h1Sockets = new Set<net.Socket>();
  const h2Sockets = new Set<net.Socket>();
  const track = (socket: net.Socket) => {
    sockets.add(socket);
    // A connection that never says anything would otherwise wait here forever, before either protocol's timeouts.
    socket.setTimeout(limits.headersTimeoutMs, () => socket.destroy());
    socket.once("close", () => {
      sockets.delete(socket);
      h1Sockets.delete(socket);
      h2Sockets.delete(socket);
    });
  };
  const tlsOptions = options.tls ? webServerTlsOptions(options.tls) : undefined;
  // With TLS the client names its protocol in ALPN; a TLS socket goes to http2 or http as it is.
  const secure = tlsOptions
    ? tls.createServer({ ...tlsOptions, noDelay: true }, (socket) => {
        track(socket);
        // The handshake is done, so the protocol is known and its own timeouts (headers, idle) take over.
        socket.setTimeout(0);
        const isH2 = socket.alpnProtocol === "h2";
        (isH2 ? h2Sockets : h1Sockets).add(socket);
        (isH2 ? h2 : h1).emit("connection", socket);
      })
    : undefined;
  // TLS sockets are tracked once their handshake is done; a client stalled in the handshake is only
  // its raw TCP socket, cut with the rest when the grace period ends so it cannot stretch shutdown.
  const handshaking = new Set<net.Socket>();
  secure?.on("connection", (raw: net.Socket) => {
    handshaking.add(raw);
    raw.once("close", () => handshaking.delete(raw));
  });
  // Cleartext HTTP/2 has no ALPN to choose the protocol, so peek at the first bytes for the h2 preface.
  // noDelay: http2 would set it on a socket it owns, but through the Duplex below it cannot, and Nagle's
  // algorithm against delayed ACKs then adds ~40 ms to every h2c call.
  const server = secure ?? net.createServer({ noDelay: true }, (socket) => {
    track(socket);
    socket.once("data", (chunk: Buffer) => {
      socket.setTimeout(0);
      socket.pause();
      socket.unshift(chunk);
      const isH2 = chunk.subarray(0, h2Preface.length).equals(h2Preface.subarray(0, Math.min(chunk.length, h2Preface.length)));
      if (isH2) {
        h2Sockets.add(socket);
        // http2 reads a net.Socket's native handle directly and would miss the unshifted preface
        // ("bad client magic"); a JS Duplex over the socket makes it read through the stream buffer.
        const duplex = Duplex.from({ readable: socket, writable: socket });
        duplex.once("close", () => socket.destroy());
        h2.emit("connection", duplex);
      } else {
        h1Sockets.add(socket);
        h1.emit("connection", socket);
      }
      socket.resume();
    });
  });
  // Beyond this many open connections new ones are closed on accept, before they cost a parser or a session.
  server.maxConnections = limits.maxConnections;
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port, options.host, () => resolve());
  });
  const address = server.address() as net.AddressInfo;
  // http.Server enforces headersTimeout and requestTimeout from a timer it starts on "listening"; h1 never
  // listens itself (the shared listener hands it sockets), so it is told, or those timeouts never fire.
  h1.emit("listening");
  // Ending a keep-alive connection the client considers idle races with the request it may be sending on
  // it (the client sees a reset, and cannot tell whether the server ran the call). So during the drain
  // idle HTTP/1.1 connections (and new ones that have not spoken yet) stay open, any request on them is
  // refused with `connection: close`, and only when the last in-flight response is done are they ended.
  const closeIdleConnections = () => {
    for (const socket of sockets) if (!h2Sockets.has(socket) && !busy.has(socket)) socket.destroy();
  };
  return {
    port: address.port,
    tls: secure !== undefined,
    async close(graceMs) {
      closing = true;
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      // Answers still being prepared tell their client not to reuse the connection; Node then closes it.
      for (const res of inFlight) if (!res.headersSent) res.setHeader("connection", "close");
      // HTTP/2 sessions get GOAWAY: running streams finish, the client opens no new ones here.
      for (const session of sessions) session.close();
      if (inFlight.size === 0) closeIdleConnections();
      const deadline = setTimeout(() => [...sockets, ...handshaking].forEach((s) => s.destroy()), graceMs);
      await closed;
      clearTimeout(deadline);
      h1.close(); // stops that timer; every connection is gone by now
    },
  };
}

/** The answer to a request that arrives during shutdown: retry elsewhere, on a new connection. */
function refuseWhileClosing(res: http.ServerResponse | http2.Http2ServerResponse): void {
  const body = JSON.stringify({ code: "unavailable", message: "the server is shutting down; retry" });
  const headers: http.OutgoingHttpHeaders = { "content-type": "application/json" };
  // HTTP/2 has no connection header (GOAWAY already told the client); HTTP/1.1 must close the socket.
  if (res instanceof http.ServerResponse) headers.connection = "close";
  res.writeHead(503, headers);
  res.end(body);
}

// Browsers cache a preflight this long; short, so that removing an origin from CORS_ORIGINS takes effect soon.
const preflightMaxAgeSeconds = 600;

/** Answers CORS preflights and adds CORS headers for the allowed origins only (exact match, no wildcard). */
function corsHandler(origins: readonly string[], next: (req: http.IncomingMessage | http2.Http2ServerRequest, res: http.ServerResponse | http2.Http2ServerResponse) => void) {
  const allowed = new Set(origins);
  return (req: http.IncomingMessage | http2.Http2ServerRequest, res: http.ServerResponse | http2.Http2ServerResponse) => {
    const origin = req.headers.origin;
    if (origin && allowed.has(origin)) {
      res.setHeader("access-control-allow-origin", origin);
      res.setHeader("vary", "origin");
      res.setHeader("access-control-expose-headers", connectCors.exposedHeaders.join(", "));
      if (req.method === "OPTIONS") {
        res.setHeader("access-control-allow-methods", connectCors.allowedMethods.join(", "));
        // authorization: the page sends its customer's bearer token, which a preflight must allow.
        res.setHeader("access-control-allow-headers", [...connectCors.allowedHeaders, "Authorization"].join(", "));
        res.setHeader("access-control-max-age", String(preflightMaxAgeSeconds));
        res.statusCode = 204;
        res.end();
        return;
      }
    }
    next(req, res);
  };
}
