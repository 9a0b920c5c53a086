import { readFile } from "node:fs/promises";
import * as http from "node:http";
import type { AddressInfo } from "node:net";
import { extname, join, normalize, sep } from "node:path";
import { isLocalRequest } from "./local-only.js";

/** Answers one request under /console/api/ (already checked to be local). */
export type ConsoleApiHandler = (req: http.IncomingMessage, res: http.ServerResponse, url: URL) => Promise<void>;

/** The static server of the built web page and the operator console. */
export interface WebPageServer {
  /** The port it listens on (the one picked for port 0). */
  port: number;
  /** Where "/" without `?api=` sends the page: the orders web port, known once orders listens. */
  setApiUrl(url: string | undefined): void;
  /** The console's JSON API, known once the launcher knows what it runs. */
  setConsoleApi(handler: ConsoleApiHandler | undefined): void;
  /** Closes the listener and every open connection. */
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

/** What the page server needs to know at start. */
export interface WebPageServerOptions {
  /** The built page (dist/web). */
  root: string;
  /** Where to listen; the console and /dev-token exist only on a loopback host. */
  host: string;
  /** 0 picks a free port. */
  port: number;
  /** Initial apiUrl (see setApiUrl). */
  apiUrl?: string | undefined;
  /** Signs a dev-issuer token for a customer; served at /dev-token?customer=... on loopback only. */
  devToken?: ((customerId: string) => Promise<string>) | undefined;
}

interface State {
  options: WebPageServerOptions;
  apiUrl: string | undefined;
  consoleApi: ConsoleApiHandler | undefined;
}

/**
 * Serves the files of root (the esbuild output, dist/web). The page talks to `?api=`, or to its own origin
 * when that is absent (behind Envoy); this server has no API of the mesh, so "/" without `?api=`
 * redirects to apiUrl. It binds at once: the launcher holds its port from the start and tells it the
 * rest (apiUrl, the console) once the services listen.
 */
export async function startWebPageServer(options: WebPageServerOptions): Promise<WebPageServer> {
  const state: State = { options, apiUrl: options.apiUrl, consoleApi: undefined };
  const server = http.createServer((req, res) => {
    void serve(state, req, res).catch(() => {
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
    setApiUrl: (url) => void (state.apiUrl = url),
    setConsoleApi: (handler) => void (state.consoleApi = handler),
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

async function serve(state: State, req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
  const { options } = state;
  const url = new URL(req.url ?? "/", "http://localhost");
  const consolePath = url.pathname === "/console" || url.pathname.startsWith("/console/");
  // The console acts as an admin of the mesh: like /dev-token it does not exist for anyone but this machine.
  if ((consolePath || url.pathname === "/dev-token") && !isLocalRequest(options.host, req)) return notFound(res);
  if (url.pathname.startsWith("/console/api/")) {
    if (!state.consoleApi) {
      res.writeHead(503, { "content-type": "application/json", "cache-control": "no-store" }).end(JSON.stringify({ error: "the mesh is still starting" }));
      return;
    }
    return state.consoleApi(req, res, url);
  }
  if (req.method !== "GET" && req.method !== "HEAD") {
    res.writeHead(405, { allow: "GET, HEAD" }).end();
    return;
  }
  if (url.pathname === "/dev-token") return serveDevToken(options, url, res);
  if (url.pathname === "/" && !url.searchParams.has("api") && state.apiUrl) {
    // Left unencoded (":" and "/" are fine in a query) so the address bar shows the same URL as the banner.
    res.writeHead(302, { location: `/?api=${state.apiUrl}` }).end();
    return;
  }
  const relative = url.pathname === "/" ? "index.html" : url.pathname === "/console" ? "console.html" : decodeURIComponent(url.pathname);
  const file = normalize(join(options.root, relative));
  // Never serve anything outside the web root, whatever "../" the path holds.
  if (!file.startsWith(options.root + sep)) return notFound(res);
  let body: Buffer;
  try {
    body = await readFile(file);
  } catch {
    return notFound(res);
  }
  res.writeHead(200, {
    "content-type": contentTypes[extname(file)] ?? "application/octet-stream",
    // A local dev server: a rebuilt page must show up on reload.
    "cache-control": "no-store",
  });
  res.end(req.method === "HEAD" ? undefined : body);
}

function notFound(res: http.ServerResponse): void {
  res.writeHead(404, { "content-type": "text/plain" }).end("not found\n");
}

/**
 * Anyone who can reach this endpoint can be any customer, so it exists only for local requests (see
 * isLocalRequest). It sends no CORS headers, so other origins' scripts cannot read the token either.
 */
async function serveDevToken(options: WebPageServerOptions, url: URL, res: http.ServerResponse): Promise<void> {
  if (!options.devToken) return notFound(res);
  const customer = url.searchParams.get("customer")?.trim() ?? "";
  if (customer === "" || customer.length > 128) {
    res.writeHead(400, { "content-type": "text/plain" }).end("customer must be 1 to 128 characters\n");
    return;
  }
  res.writeHead(200, { "content-type": "text/plain", "cache-control": "no-store" }).end(await options.devToken(customer));
}
