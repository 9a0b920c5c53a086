import { randomUUID } from "node:crypto";
import { cp, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { drizzle } from "drizzle-orm/postgres-js";
import { migrate } from "drizzle-orm/postgres-js/migrator";
import postgres from "postgres";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { projectPath } from "../../platform/db/index.js";
import { catalogue, typeOf } from "../../platform/events/index.js";
import { createTestDatabase, type TestDatabase } from "../../../tests/support/test-database.js";
import { openOrdersDatabase } from "./open-database.js";

// 0005_outbox_order numbers the rows an older orders left in its outbox; an upgrade must keep their order.
let testDb: TestDatabase;
let dir: string;

beforeAll(async () => {
  testDb = await createTestDatabase("orders_outbox_migration");
  dir = await mkdtemp(join(tmpdir(), "orders-migrations-"));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
  await testDb?.drop();
});

describe("migration 0005_outbox_order", () => {
  it("gives rows already in the outbox a seq in created_at order, and new rows a later one", async () => {
    // The migrations as they were before 0004: the same files, the journal cut after 0003.
    await cp(projectPath("services/orders/db/migrations"), dir, { recursive: true });
    const journalPath = join(dir, "meta/_journal.json");
    const journal = JSON.parse(await readFile(journalPath, "utf8")) as { entries: Array<{ tag: string }> };
    journal.entries = journal.entries.slice(0, journal.entries.findIndex((e) => e.tag === "0005_outbox_order"));
    await writeFile(journalPath, JSON.stringify(journal));
    const sql = postgres(testDb.url, { max: 1, onnotice: () => {} });
    const ids = [randomUUID(), randomUUID(), randomUUID()];
    try {
      await migrate(drizzle(sql), { migrationsFolder: dir, migrationsTable: "__migrations_orders", migrationsSchema: "public" });
      // Inserted newest first, so physical order and created_at order disagree.
      for (const [i, id] of ids.entries()) {
        await sql`insert into outbox (id, aggregate_id, event_name, event_type, payload, created_at)
                  values (${id}, ${randomUUID()}, ${catalogue.orderCreated.name}, ${typeOf(catalogue.orderCreated)}, '\\x00', ${new Date(Date.UTC(2026, 0, 10 - i)).toISOString()})`;
      }
    } finally {
      await sql.end();
    }
    const database = await openOrdersDatabase(testDb.url, 2);
    try {
      const rows = await database.sql`select id, seq::int as seq from outbox order by created_at`;
      expect(rows.map((r) => r.id)).toEqual([...ids].reverse());
      expect(rows.map((r) => r.seq)).toEqual([1, 2, 3]);
      const [next] = await database.sql`insert into outbox (id, aggregate_id, event_name, event_type, payload, created_at)
                                        values (${randomUUID()}, ${randomUUID()}, ${catalogue.orderCreated.name}, ${typeOf(catalogue.orderCreated)}, '\\x00', now()) returning seq::int as seq`;
      expect(next!.seq).toBe(4);
    } finally {
      await database.close();
    }
  });
});
