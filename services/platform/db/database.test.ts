import { afterAll, beforeAll, describe, expect, it } from "vitest";
import * as ordersSchema from "../../orders/db/schema.js";
import postgres from "postgres";
import { createTestDatabase, TEST_POSTGRES_URL, uniqueName, type TestDatabase } from "../../../tests/support/test-database.js";
import { ensureDatabase, openDatabase, type Database } from "./database.js";

// Replicas of a service start together on one fresh database (npm start --replicas, a Deployment scaled to 3).
describe("openDatabase", () => {
  let testDb: TestDatabase;
  const opened: Array<Database<typeof ordersSchema>> = [];

  beforeAll(async () => {
    testDb = await createTestDatabase("open_database");
  });

  afterAll(async () => {
    await Promise.all(opened.map((d) => d.close()));
    await testDb.drop();
  });

  it("lets replicas migrating the same fresh database at once all start, applying each migration once", async () => {
    const open = () => openDatabase({ url: testDb.url, schema: ordersSchema, migrationsFolder: "services/orders/db/migrations", migrationsTable: "__migrations_orders", poolSize: 1 });
    const results = await Promise.allSettled(Array.from({ length: 4 }, open));
    for (const result of results) if (result.status === "fulfilled") opened.push(result.value);
    expect(results.filter((r) => r.status === "rejected")).toEqual([]);
    const applied = await opened[0]!.sql`select hash, count(*)::int as n from public.__migrations_orders group by hash`;
    expect(applied.length).toBeGreaterThan(0);
    expect(applied.every((row) => row.n === 1)).toBe(true);
  });
});

describe("ensureDatabase", () => {
  it("lets replicas on a server without the database all create it at once", async () => {
    const name = uniqueName("ensure_database");
    const url = new URL(TEST_POSTGRES_URL);
    url.pathname = `/${name}`;
    const admin = postgres(TEST_POSTGRES_URL, { max: 1, onnotice: () => {} });
    try {
      // Side by side, several pass the existence check before any has created it (seen as 23505 under npm start --replicas).
      const results = await Promise.allSettled(Array.from({ length: 6 }, () => ensureDatabase(url.toString())));
      expect(results.filter((r) => r.status === "rejected")).toEqual([]);
      expect(await admin`select 1 from pg_database where datname = ${name}`).toHaveLength(1);
    } finally {
      await admin`drop database if exists ${admin(name)} with (force)`;
      await admin.end();
    }
  });
});
