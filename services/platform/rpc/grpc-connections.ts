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
    // Node's own "connection" listener creates the session and emits "session" synchronously, before this one.
    let latest: http2.ServerHttp2Session | undefined;
    listener.on("session", (session) => {
      latest = session;
      enforcePingPolicy(session);
    });
    listener.on("connection", (socket: net.Socket) => {
      sockets.add(socket);
      const session = latest;
      const silent = setTimeout(() => socket.destroy(), limits.headersTimeoutMs);
      session?.once("remoteSettings", () => clearTimeout(silent));
      socket.once("close", () => {
        clearTimeout(silent);
        sockets.delete(socket);
      });
    });
  }
  return { destroyAll: () => sockets.forEach((s) => s.destroy()) };
}
