import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import postgres, { type Sql } from "postgres";
import { drizzle, type PostgresJsDatabase } from "drizzle-orm/postgres-js";
import { migrate } from "drizzle-orm/postgres-js/migrator";
import { reportPoolUsage } from "../metrics/db-metrics.js";
import { countPoolWork } from "./pool-usage.js";
import { cancellableSql } from "./query-cancellation.js";

export type { Sql } from "postgres";

/** A service's database: the postgres.js pool and drizzle on top of it. */
export interface Database<TSchema extends Record<string, unknown>> {
  /** Where it lives, as spans name it (db.namespace, server.address, server.port). */
  location: DatabaseLocation;
  sql: Sql;
  db: PostgresJsDatabase<TSchema>;
  /**
   * Round trip to the server on a connection of its own, for health checks: through the pool, a check
   * queues behind the work of a busy service and reports a reachable database as down exactly when
   * load is highest (seen under the benchmark), which makes a gateway eject a healthy, busy replica.
   */
  ping(): Promise<void>;
  close(): Promise<void>;
}

/** A database's name and server, from its URL. */
export interface DatabaseLocation {
  /** The database name (db.namespace). */
  name: string;
  host: string;
  port: number;
}

/** The name and server a postgres:// URL points at (port 5432 when it names none). */
export function databaseLocation(url: string): DatabaseLocation {
  const u = new URL(url);
  return { name: decodeURIComponent(u.pathname.slice(1)), host: u.hostname, port: u.port ? Number(u.port) : 5432 };
}

/** Creates the database named in the URL when it does not exist yet (first start on a fresh server). */
export async function ensureDatabase(url: string): Promise<void> {
  const name = decodeURIComponent(new URL(url).pathname.slice(1));
  if (!name) throw new Error(`database URL names no database: ${redact(url)}`);
  const admin = new URL(url);
  admin.pathname = "/postgres";
  const sql = postgres(admin.toString(), { max: 1, onnotice: () => {} });
  try {
    const found = await sql`select 1 from pg_database where datname = ${name}`;
    if (found.length > 0) return;
    // Two processes may race to create it (replicas starting side by side); the loser sees
    // duplicate_database (42P04), or unique_violation (23505) on pg_database's name index when both
    // passed the existence check at once, and is fine either way.
    await sql`create database ${sql(name)}`.catch((err: { code?: string }) => {
      if (err.code !== "42P04" && err.code !== "23505") throw err;
    });
  } finally {
    await sql.end({ timeout: 5 });
  }
}

/**
 * Default of DATABASE_STATEMENT_TIMEOUT_MS: the longest one statement of a service may run (lock waits
 * included). Well above any query of a healthy service, and below the deadlines callers set, so a
 * statement stuck behind a lock or a sick server fails while its caller still waits for the answer.
 */
export const defaultStatementTimeoutMs = 5000;

/** Opens the pool, creates the database if missing and applies the service's committed migrations. */
export async function openDatabase<TSchema extends Record<string, unknown>>(options: {
  url: string;
  schema: TSchema;
  /** Folder of drizzle-kit SQL migrations, relative to the project root. */
  migrationsFolder: string;
  /** Per-service table, so services sharing one server never read each other's history. */
  migrationsTable: string;
  poolSize: number;
  /**
   * PostgreSQL statement_timeout of every pooled connection; a statement running longer fails with
   * SQLSTATE 57014 (RPCs answer DEADLINE_EXCEEDED). Default defaultStatementTimeoutMs. Migrations
   * run on a connection of their own without it: a long index build is not a stuck request.
   */
  statementTimeoutMs?: number;
}): Promise<Database<TSchema>> {
  await ensureDatabase(options.url);
  const migrator = postgres(options.url, { max: 1, onnotice: () => {}, connect_timeout: 5 });
  try {
    // Replicas starting together would run the same migration twice (the loser fails on "already
    // exists"): a session advisory lock per migrations table makes them take turns, and the later ones
    // find nothing left to apply. The one connection holds it until end().
    await migrator`select pg_advisory_lock(hashtext(${options.migrationsTable}))`;
    await migrate(drizzle(migrator), {
      migrationsFolder: projectPath(options.migrationsFolder),
      migrationsTable: options.migrationsTable,
      migrationsSchema: "public",
    });
  } finally {
    await migrator.end({ timeout: 5 });
  }
  const pool = countPoolWork(
    postgres(options.url, {
      max: options.poolSize,
      onnotice: () => {},
      // Fail fast while the server is unreachable instead of queueing calls behind a dead connection.
      connect_timeout: 5,
      connection: { statement_timeout: options.statementTimeoutMs ?? defaultStatementTimeoutMs },
    }),
  );
  const stopReporting = reportPoolUsage(databaseLocation(options.url).name, options.poolSize, pool.usage.busy);
  // Queries an RPC handler starts are cancelled when its call is (see query-cancellation.ts).
  const sql = cancellableSql(pool.sql);
  const db = drizzle(sql, { schema: options.schema });
  const probe = postgres(options.url, { max: 1, onnotice: () => {}, connect_timeout: 5 });
  // Connected now, so the first health check does not pay for a connection set-up inside its timeout.
  await probe`select 1`;
  // One ping at a time: pings queued behind a hung reconnect would complete out of order and make
  // health flap (SERVING, then a late timeout) after the database came back.
  let pinging: Promise<void> | undefined;
  return {
    location: databaseLocation(options.url),
    sql,
    db,
    ping() {
      pinging ??= probe`select 1`.then(
        () => {
          pinging = undefined;
        },
        (err: unknown) => {
          pinging = undefined;
          throw err;
        },
      );
      return pinging;
    },
    async close() {
      stopReporting();
      await Promise.all([sql.end({ timeout: 5 }), probe.end({ timeout: 5 })]);
    },
  };
}

/** Resolves a path from the project root, the same whether running from source or from dist/. */
export function projectPath(relative: string): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, "package.json"))) {
    const parent = dirname(dir);
    if (parent === dir) throw new Error("package.json not found above " + fileURLToPath(import.meta.url));
    dir = parent;
  }
  return join(dir, relative);
}

/** The URL without its password, for logs and errors. */
export function redact(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = "***";
    return u.toString();
  } catch {
    return "<invalid url>";
  }
}
