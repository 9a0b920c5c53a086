import * as http from "node:http";
import * as http2 from "node:http2";
import * as net from "node:net";
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
  const h1 = http.createServer(withCors);
  const h2 = http2.createServer(withCors);
  const sockets = new Set<net.Socket>();
  // Cleartext HTTP/2 has no ALPN to choose the protocol, so peek at the first bytes for the h2 preface.
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.once("close", () => sockets.delete(socket));
    socket.once("data", (chunk: Buffer) => {
      socket.pause();
      socket.unshift(chunk);
      const isH2 = chunk.subarray(0, h2Preface.length).equals(h2Preface.subarray(0, Math.min(chunk.length, h2Preface.length)));
      (isH2 ? h2 : h1).emit("connection", socket);
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
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      h1.closeIdleConnections();
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
