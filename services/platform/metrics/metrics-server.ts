import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import type { Logger } from "../process/logger.js";
import { collectProcessMetrics, metricsRegistry } from "./registry.js";

/** A running /metrics listener. */
export interface MetricsServer {
  /** The port it listens on (the configured one, or the one picked for port 0). */
  port: number;
  stop(): Promise<void>;
}

// Prometheus and an operator's curl are the only clients; a handful of connections is plenty.
const maxConnections = 16;

/**
 * Serves the process's registry as Prometheus text at GET /metrics on its own port (plain node:http,
 * no framework): anything else is 404, connections and request times are bounded. Starting it also
 * starts the Node process metrics.
 */
export async function startMetricsServer(options: { host: string; port: number; logger: Logger }): Promise<MetricsServer> {
  collectProcessMetrics();
  const server = createServer((req, res) => {
    const path = (req.url ?? "").split("?")[0];
    if (req.method !== "GET" || path !== "/metrics") {
      res.writeHead(404, { "content-type": "text/plain" }).end("not found\n");
      return;
    }
    metricsRegistry.metrics().then(
      (text) => res.writeHead(200, { "content-type": metricsRegistry.contentType }).end(text),
      (err: unknown) => {
        options.logger.warn({ err }, "collecting metrics failed");
        res.writeHead(500, { "content-type": "text/plain" }).end("collecting metrics failed\n");
      },
    );
  });
  server.maxConnections = maxConnections;
  server.requestTimeout = 10_000;
  server.headersTimeout = 5_000;
  server.keepAliveTimeout = 65_000;
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port, options.host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  options.logger.info({ metrics: `http://${options.host}:${port}/metrics` }, "metrics listening");
  return {
    port,
    stop: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
