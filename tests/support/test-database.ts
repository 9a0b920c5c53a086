import { randomBytes } from "node:crypto";
import postgres from "postgres";

/** The machine's shared PostgreSQL; tests only ever create and drop their own databases on it. */
export const TEST_POSTGRES_URL = process.env.TEST_POSTGRES_URL ?? "postgres://postgres@127.0.0.1:5432/postgres";

/** A uniquely named, empty database that the test drops when done. */
export interface TestDatabase {
  url: string;
  name: string;
  drop(): Promise<void>;
}

/** Creates an empty database with a unique name (prefix + random suffix) on the shared server. */
export async function createTestDatabase(prefix: string, serverUrl = TEST_POSTGRES_URL): Promise<TestDatabase> {
  const name = `${prefix}_${Date.now().toString(36)}_${randomBytes(3).toString("hex")}`;
  const admin = postgres(serverUrl, { max: 1, onnotice: () => {} });
  await admin`create database ${admin(name)}`;
  await admin.end();
  const url = new URL(serverUrl);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    name,
    async drop() {
      const sql = postgres(serverUrl, { max: 1, onnotice: () => {} });
      await sql`drop database if exists ${sql(name)} with (force)`;
      await sql.end();
    },
  };
}

/** A unique name for a run-scoped resource (stream, subject prefix, consumer). */
export function uniqueName(prefix: string): string {
  return `${prefix}_${Date.now().toString(36)}_${randomBytes(3).toString("hex")}`;
}
