import type * as http2 from "node:http2";
import type * as net from "node:net";
import type * as grpc from "@grpc/grpc-js";
import { enforcePingPolicy } from "./ping-policy.js";
import type { ServerLimits } from "./server-limits.js";

/** The raw TCP connections of a grpc-js server, which grpc-js itself does not bound or always close. */
export interface GrpcConnections {
  /** Destroys every connection still open (after forceShutdown, which leaves some behind). */
  destroyAll(): void;
}

/**
 * Caps and watches the connections of a bound grpc-js server. grpc-js's forceShutdown destroys the HTTP/2
 * sessions, but a session whose client never sent the connection preface keeps its socket open, and the
 * process with it: such silent connections once stretched shutdown without bound. They are also closed
 * when no preface and SETTINGS arrive within the header timeout, and the listener takes at most
 * maxConnections, and abusive pingers are cut (ping-policy.ts). grpc-js has no public handle on its listeners, so its http2Servers map is read.
 */
export function watchGrpcJsConnections(server: grpc.Server, limits: ServerLimits): GrpcConnections {
  const listeners = (server as unknown as { http2Servers?: Map<http2.Http2Server, unknown> }).http2Servers;
  if (!(listeners instanceof Map)) throw new Error("grpc-js internals changed: Server.http2Servers is gone; update grpc-connections.ts");
  const sockets = new Set<net.Socket>();
  for (const listener of listeners.keys()) {
    listener.maxConnections = limits.maxConnections;
    // A connection's silence timer, by peer address: "connection" gives the TCP socket and "session"
    // the HTTP/2 session, in either order (plaintext: session first; TLS: the session only after the
    // handshake, on a TLS socket), so the peer's address and port are what ties the two together.
    const silenceTimers = new Map<string, NodeJS.Timeout>();
    listener.on("session", (session) => {
      enforcePingPolicy(session);
      const key = peerKey(session.socket);
      session.once("remoteSettings", () => clearTimeout(silenceTimers.get(key)));
    });
    listener.on("connection", (socket: net.Socket) => {
      sockets.add(socket);
      const key = peerKey(socket);
      silenceTimers.set(key, setTimeout(() => socket.destroy(), limits.headersTimeoutMs));
      socket.once("close", () => {
        clearTimeout(silenceTimers.get(key));
        silenceTimers.delete(key);
        sockets.delete(socket);
      });
    });
  }
  return { destroyAll: () => sockets.forEach((s) => s.destroy()) };
}

function peerKey(socket: { remoteAddress?: string | undefined; remotePort?: number | undefined }): string {
  return `${socket.remoteAddress}:${socket.remotePort}`;
}
