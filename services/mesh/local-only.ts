import type { IncomingMessage } from "node:http";
import { isLoopback } from "../platform/identity/index.js";

/**
 * Whether a request may use what the launcher serves as an admin or as any customer (/dev-token, the
 * operator console): the listener is on loopback, the peer is this machine, and the Host names a
 * loopback address, so a page on another site that resolves its own name to 127.0.0.1 (DNS rebinding)
 * is refused too.
 */
export function isLocalRequest(listenerHost: string, req: IncomingMessage): boolean {
  const peer = (req.socket.remoteAddress ?? "").replace(/^::ffff:/, "");
  return isLoopback(listenerHost) && isLoopback(peer) && isLoopback(hostnameOf(req.headers.host));
}

/**
 * Whether a state-changing request comes from a page of the server's own origin: browsers send Origin
 * on every cross-origin POST (and on same-origin ones), so a missing or other Origin is a form or a
 * script of another site (CSRF). Host is checked loopback by isLocalRequest first.
 */
export function isSameOrigin(req: IncomingMessage): boolean {
  const origin = req.headers.origin;
  return origin !== undefined && req.headers.host !== undefined && origin === `http://${req.headers.host}`;
}

/** The host part of a Host header ("127.0.0.1:8090" -> "127.0.0.1", "[::1]:8090" -> "::1"); "" when absent. */
function hostnameOf(host: string | undefined): string {
  if (!host) return "";
  const bracketed = /^\[([^\]]+)\](?::\d+)?$/.exec(host);
  if (bracketed) return bracketed[1]!;
  return host.replace(/:\d+$/, "");
}
