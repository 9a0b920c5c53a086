import * as http from "node:http";
import * as http2 from "node:http2";
import * as net from "node:net";
import { Duplex } from "node:stream";
import { cors as connectCors } from "@connectrpc/connect";
import { connectNodeAdapter } from "@connectrpc/connect-node";
import type { ServiceBinding } from "./service-impl.js";

/** Options of the browser-facing listener. */
export interface WebServerOptions {
  host: string;
  port: number;
  services: readonly ServiceBinding[];
  /** Origins allowed by CORS; "*" allows any (local development). */
  corsOrigins: readonly string[];
  /** Aborted when the process shuts down, so in-flight handlers see it. */
  shutdownSignal: AbortSignal;
}

/** A running web listener. */
export interface WebServer {
  port: number;
  close(graceMs: number): Promise<void>;
}

const h2Preface = Buffer.from("PRI * HTTP/2.0\r\n");

/**
 * Serves the same handlers as the gRPC port over Connect, gRPC-Web and gRPC, on HTTP/1.1 (browsers)
 * and h2c (curl --http2-prior-knowledge, Connect clients) on a single port, with CORS for browsers.
 */
export async function startWebServer(options: WebServerOptions): Promise<WebServer> {
  const handler = connectNodeAdapter({
    routes: (router) => options.services.forEach((s) => router.service(s.service, s.impl)),
    shutdownSignal: options.shutdownSignal,
  });
  const withCors = corsHandler(options.corsOrigins, handler);
  let closing = false;
  // HTTP/1.1 keep-alive connections with a response in progress; the others are idle and may be closed.
  const busy = new Map<net.Socket, number>();
  const h1 = http.createServer((req, res) => {
    const socket = req.socket;
    busy.set(socket, (busy.get(socket) ?? 0) + 1);
    res.once("close", () => {
      const left = (busy.get(socket) ?? 1) - 1;
      if (left > 0) busy.set(socket, left);
      else busy.delete(socket);
      // Once closing, a keep-alive connection ends after its last response instead of idling until the grace cut.
      if (closing && left <= 0) socket.end();
    });
    withCors(req, res);
  });
  const h2 = http2.createServer(withCors);
  const sessions = new Set<http2.ServerHttp2Session>();
  h2.on("session", (session) => {
    sessions.add(session);
    session.once("close", () => sessions.delete(session));
  });
  const sockets = new Set<net.Socket>();
  const h1Sockets = new Set<net.Socket>();
  const h2Sockets = new Set<net.Socket>();
  // Cleartext HTTP/2 has no ALPN to choose the protocol, so peek at the first bytes for the h2 preface.
  // noDelay: http2 would set it on a socket it owns, but through the Duplex below it cannot, and Nagle's
  // algorithm against delayed ACKs then adds ~40 ms to every h2c call.
  const server = net.createServer({ noDelay: true }, (socket) => {
    sockets.add(socket);
    socket.once("close", () => {
      sockets.delete(socket);
      h1Sockets.delete(socket);
      h2Sockets.delete(socket);
    });
    socket.once("data", (chunk: Buffer) => {
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
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port, options.host, () => resolve());
  });
  const address = server.address() as net.AddressInfo;
  return {
    port: address.port,
    async close(graceMs) {
      closing = true;
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      // net.Server.close waits for every connection, so end the idle ones now: connections that never
      // sent a byte, idle HTTP/1.1 keep-alives, and HTTP/2 sessions via GOAWAY (running streams finish).
      for (const socket of sockets) {
        if (h2Sockets.has(socket)) continue;
        if (!h1Sockets.has(socket) || !busy.has(socket)) socket.destroy();
      }
      for (const session of sessions) session.close();
      const deadline = setTimeout(() => sockets.forEach((s) => s.destroy()), graceMs);
      await closed;
      clearTimeout(deadline);
    },
  };
}

function corsHandler(origins: readonly string[], next: (req: http.IncomingMessage | http2.Http2ServerRequest, res: http.ServerResponse | http2.Http2ServerResponse) => void) {
  const anyOrigin = origins.includes("*");
  return (req: http.IncomingMessage | http2.Http2ServerRequest, res: http.ServerResponse | http2.Http2ServerResponse) => {
    const origin = req.headers.origin;
    if (origin && (anyOrigin || origins.includes(origin))) {
      res.setHeader("access-control-allow-origin", origin);
      res.setHeader("vary", "origin");
      res.setHeader("access-control-expose-headers", connectCors.exposedHeaders.join(", "));
      if (req.method === "OPTIONS") {
        res.setHeader("access-control-allow-methods", connectCors.allowedMethods.join(", "));
        res.setHeader("access-control-allow-headers", connectCors.allowedHeaders.join(", "));
        res.setHeader("access-control-max-age", "7200");
        res.statusCode = 204;
        res.end();
        return;
      }
    }
    next(req, res);
  };
}
