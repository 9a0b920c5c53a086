import { accessSync, constants } from "node:fs";
import { mkdir } from "node:fs/promises";
import { delimiter, join } from "node:path";
import { formatNatsLine } from "./log-format.js";
import { createPrinter, type LinePrinter } from "./log-output.js";
import { ManagedProcess } from "./managed-process.js";

/** A nats-server with JetStream that the launcher started. */
export interface LocalNatsServer {
  /** nats://127.0.0.1:port */
  url: string;
  process: ManagedProcess;
  /** Resolves once the server takes clients; rejects if it exits first. */
  ready: Promise<void>;
  stop(): Promise<void>;
}

/** Where one nats-server listens and keeps its JetStream store, and the cluster it joins, if any. */
export interface NatsServerOptions {
  port: number;
  storeDir: string;
  /** Server name (JetStream clusters need a unique one per node). Default "ordermesh-local". */
  serverName?: string;
  /** Joins a cluster: its name, this node's route port and every node's route URL. */
  cluster?: { name: string; port: number; routes: readonly string[] };
  /** Prefix of its printed lines. Default "nats". */
  label?: string;
  /** Where its lines go; default the launcher's prefixed console output. */
  print?: LinePrinter;
  /** The nats-server binary; default findNatsServer(). */
  command?: string;
  /** See ManagedProcessOptions.ownProcessGroup; default true. */
  ownProcessGroup?: boolean;
}

/** Starts nats-server on 127.0.0.1:port with JetStream storing under storeDir; when it is not installed, the error says how to get it. */
export async function startNatsServer(options: NatsServerOptions): Promise<LocalNatsServer> {
  const command = options.command ?? findNatsServer();
  if (!command) {
    throw new Error(
      "nats-server not found: install it (Debian/Ubuntu: apt-get install nats-server; otherwise a binary from https://github.com/nats-io/nats-server/releases) or set NATS_URL=nats://host:4222 to use a running server",
    );
  }
  await mkdir(options.storeDir, { recursive: true });
  const label = options.label ?? "nats";
  const print = options.print ?? createPrinter(label, formatNatsLine);
  let ready = false;
  const cluster = options.cluster
    ? ["--cluster_name", options.cluster.name, "--cluster", `nats://127.0.0.1:${options.cluster.port}`, "--routes", options.cluster.routes.join(",")]
    : [];
  const server = new ManagedProcess({
    name: label,
    command,
    args: ["-a", "127.0.0.1", "-p", String(options.port), "-js", "-sd", options.storeDir, "-n", options.serverName ?? "ordermesh-local", ...cluster],
    // Its start-up banner is twenty [INF] lines of ASCII art and limits; warnings and errors still show.
    print: (line) => (ready || !line.includes("[INF]") ? print(line) : undefined),
    ownProcessGroup: options.ownProcessGroup,
  });
  return {
    url: `nats://127.0.0.1:${options.port}`,
    process: server,
    ready: server.waitForLine((line) => (line.includes("Server is ready") ? true : undefined), "being ready").then(() => {
      ready = true;
    }),
    async stop() {
      await server.stop("SIGTERM", 10_000);
    },
  };
}

/** Path of nats-server: MESH_NATS_SERVER, else PATH, else the sbin folders Debian installs it to (not on a normal user's PATH). */
export function findNatsServer(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const candidates = env.MESH_NATS_SERVER
    ? [env.MESH_NATS_SERVER]
    : [...(env.PATH ?? "").split(delimiter).filter(Boolean), "/usr/sbin", "/usr/local/sbin"].map((dir) => join(dir, "nats-server"));
  for (const candidate of candidates) {
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return undefined;
}
