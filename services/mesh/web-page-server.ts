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

/**
 * Serves the files of root (the esbuild output, dist/web). The page talks to `?api=`, or to its own origin
 * when that is absent (behind Envoy); this server has no API, so "/" without `?api=` redirects to apiUrl.
 */
export async function startWebPageServer(options: { root: string; host: string; port: number; apiUrl: string | undefined }): Promise<WebPageServer> {
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

async function serve(options: { root: string; apiUrl: string | undefined }, req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
  const url = new URL(req.url ?? "/", "http://localhost");
  if (req.method !== "GET" && req.method !== "HEAD") {
    res.writeHead(405, { allow: "GET, HEAD" }).end();
    return;
  }
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
