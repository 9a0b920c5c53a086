import { openDatabase, type Database } from "../../platform/db/index.js";
import * as schema from "./schema.js";

/** The orders database with its committed migrations applied (creating the database if missing). */
export function openOrdersDatabase(url: string, poolSize: number, statementTimeoutMs?: number): Promise<Database<typeof schema>> {
  return openDatabase({
    url,
    schema,
    migrationsFolder: "services/orders/db/migrations",
    migrationsTable: "__migrations_orders",
    poolSize,
    statementTimeoutMs,
  });
}
