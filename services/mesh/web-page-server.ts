import { readFile } from "node:fs/promises";
import * as http from "node:http";
import type { AddressInfo } from "node:net";
import { extname, join, normalize, sep } from "node:path";

/** The static server of the built web page. */
export interface WebPageServer {
  port: number;
  close(): Promise<void>;
}

const contentTypes: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".map": "application/json",
  ".svg": "image/svg+xml",
  ".ico": "image/x-icon",
};

/** What the page server needs to know. */
export interface WebPageServerOptions {
  root: string;
  host: string;
  port: number;
  apiUrl: string | undefined;
  /** Signs a dev-issuer token for a customer; served at /dev-token?customer=... on loopback only. */
  devToken?: ((customerId: string) => Promise<string>) | undefined;
}

/**
 * Serves the files of root (the esbuild output, dist/web). The page talks to `?api=`, or to its own origin
 * when that is absent (behind Envoy); this server has no API, so "/" without `?api=` redirects to apiUrl.
 */
export async function startWebPageServer(options: WebPageServerOptions): Promise<WebPageServer> {
  const server = http.createServer((req, res) => {
    void serve(options, req, res).catch(() => {
      if (!res.headersSent) res.writeHead(500);
      res.end();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port, options.host, () => resolve());
  });
  return {
    port: (server.address() as AddressInfo).port,
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

async function serve(options: WebPageServerOptions, req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
  const url = new URL(req.url ?? "/", "http://localhost");
  if (req.method !== "GET" && req.method !== "HEAD") {
    res.writeHead(405, { allow: "GET, HEAD" }).end();
    return;
  }
  if (url.pathname === "/dev-token") return serveDevToken(options, url, req, res);
  if (url.pathname === "/" && !url.searchParams.has("api") && options.apiUrl) {
    // Left unencoded (":" and "/" are fine in a query) so the address bar shows the same URL as the banner.
    res.writeHead(302, { location: `/?api=${options.apiUrl}` }).end();
    return;
  }
  const relative = url.pathname === "/" ? "index.html" : decodeURIComponent(url.pathname);
  const file = normalize(join(options.root, relative));
  // Never serve anything outside the web root, whatever "../" the path holds.
  if (!file.startsWith(options.root + sep)) {
    res.writeHead(404).end();
    return;
  }
  let body: Buffer;
  try {
    body = await readFile(file);
  } catch {
    res.writeHead(404, { "content-type": "text/plain" }).end("not found\n");
    return;
  }
  res.writeHead(200, {
    "content-type": contentTypes[extname(file)] ?? "application/octet-stream",
    // A local dev server: a rebuilt page must show up on reload.
    "cache-control": "no-store",
  });
  res.end(req.method === "HEAD" ? undefined : body);
}

/**
 * Anyone who can reach this endpoint can be any customer, so it exists only on a loopback listener, for
 * loopback peers, and for a loopback Host (a DNS-rebinding page cannot use it). It sends no CORS
 * headers, so other origins' scripts cannot read the token either.
 */
async function serveDevToken(options: WebPageServerOptions, url: URL, req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
  const host = (req.headers.host ?? "").replace(/:\d+$/, "");
  const loopback = (address: string | undefined) => address === "127.0.0.1" || address === "::1" || address === "::ffff:127.0.0.1";
  if (!options.devToken || !loopback(options.host) || !loopback(req.socket.remoteAddress) || !["127.0.0.1", "localhost", "[::1]"].includes(host)) {
    res.writeHead(404, { "content-type": "text/plain" }).end("not found\n");
    return;
  }
  const customer = url.searchParams.get("customer")?.trim() ?? "";
  if (customer === "" || customer.length > 128) {
    res.writeHead(400, { "content-type": "text/plain" }).end("customer must be 1 to 128 characters\n");
    return;
  }
  res.writeHead(200, { "content-type": "text/plain", "cache-control": "no-store" }).end(await options.devToken(customer));
}
