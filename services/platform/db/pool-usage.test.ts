import { afterAll, beforeAll, describe, expect, it } from "vitest";
import * as notifierSchema from "../../notifier/db/schema.js";
import { createTestDatabase, type TestDatabase } from "../../../tests/support/test-database.js";
import { waitFor } from "../../../tests/support/wait-for.js";
import { metricsRegistry } from "../metrics/index.js";
import { openDatabase, type Database } from "./database.js";

// A real pool of 2 connections on a real PostgreSQL, and the gauges /metrics would serve.
describe("the database pool gauges", () => {
  let testDb: TestDatabase;
  let database: Database<typeof notifierSchema>;

  beforeAll(async () => {
    testDb = await createTestDatabase("pool_usage");
    database = await openDatabase({ url: testDb.url, schema: notifierSchema, migrationsFolder: "services/notifier/db/migrations", migrationsTable: "__migrations_notifier", poolSize: 2 });
  });

  afterAll(async () => {
    await database?.close();
    await testDb?.drop();
  });

  /** The pool's gauges as a scrape reads them, for this test's database. */
  async function gauges(): Promise<Record<string, number>> {
    const name = new URL(testDb.url).pathname.slice(1);
    const out: Record<string, number> = {};
    for (const metric of await metricsRegistry.getMetricsAsJSON()) {
      if (!metric.name.startsWith("ordermesh_db_pool_")) continue;
      const value = metric.values.find((v) => v.labels.database === name);
      if (value) out[metric.name.replace("ordermesh_db_pool_", "")] = value.value;
    }
    return out;
  }

  it("counts queries running and waiting beyond the pool's size, and a transaction once whatever it runs", async () => {
    expect(await gauges()).toEqual({ size: 2, in_use: 0, waiting: 0 });
    // Five sleeping queries on two connections: two run, three wait (queued or pipelined).
    // (postgres.js runs a query once it is awaited.)
    const sleeping = Promise.all(Array.from({ length: 5 }, () => database.sql`select pg_sleep(0.5)`));
    await waitFor(async () => (await gauges()).waiting === 3, { what: "three queries waiting", timeoutMs: 5000 });
    expect(await gauges()).toEqual({ size: 2, in_use: 2, waiting: 3 });
    await sleeping;
    await waitFor(async () => (await gauges()).in_use === 0, { what: "the pool idle again", timeoutMs: 5000 });

    let inside: Record<string, number> | undefined;
    await database.sql.begin(async (tx) => {
      await tx`select 1`;
      await tx`select 2`;
      inside = await gauges();
    });
    expect(inside).toEqual({ size: 2, in_use: 1, waiting: 0 });
    expect(await gauges()).toEqual({ size: 2, in_use: 0, waiting: 0 });
  });
});
