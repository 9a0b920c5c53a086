import { openDatabase, type Database } from "../../platform/db/index.js";
import * as schema from "./schema.js";

/** The notifier database with its committed migrations applied (creating the database if missing). */
export function openNotifierDatabase(url: string, poolSize: number, statementTimeoutMs?: number): Promise<Database<typeof schema>> {
  return openDatabase({
    url,
    schema,
    migrationsFolder: "services/notifier/db/migrations",
    migrationsTable: "__migrations_notifier",
    poolSize,
    statementTimeoutMs,
  });
}
