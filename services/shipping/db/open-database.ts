import { openDatabase, type Database } from "../../platform/db/index.js";
import * as schema from "./schema.js";

/** The shipping database with its committed migrations applied (creating the database if missing). */
export function openShippingDatabase(url: string, poolSize: number, statementTimeoutMs?: number): Promise<Database<typeof schema>> {
  return openDatabase({
    url,
    schema,
    migrationsFolder: "services/shipping/db/migrations",
    migrationsTable: "__migrations_shipping",
    poolSize,
    statementTimeoutMs,
  });
}
