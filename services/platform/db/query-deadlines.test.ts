import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { sql as drizzleSql } from "drizzle-orm";
import postgres from "postgres";
import * as notifierSchema from "../../notifier/db/schema.js";
import { createTestDatabase, type TestDatabase } from "../../../tests/support/test-database.js";
import { waitFor } from "../../../tests/support/wait-for.js";
import { openDatabase, type Database } from "./database.js";
import { runWithQuerySignal } from "./query-cancellation.js";

// Any service's schema does; the notifier's is the smallest.
const open = (url: string, statementTimeoutMs: number, poolSize = 2) =>
  openDatabase({ url, schema: notifierSchema, migrationsFolder: "services/notifier/db/migrations", migrationsTable: "__migrations_notifier", poolSize, statementTimeoutMs });

let testDb: TestDatabase;
let database: Database<typeof notifierSchema>;
// The observer has a connection of its own: polling through the pool under test would queue behind the
// very sleep it waits for whenever the pool's other connection is busy.
let observer: postgres.Sql;
beforeAll(async () => {
  testDb = await createTestDatabase("deadlines");
  database = await open(testDb.url, 10_000);
  observer = postgres(testDb.url, { max: 1 });
});
afterAll(async () => {
  await observer?.end();
  await database?.close();
  await testDb?.drop();
});

/** Sessions of the test database currently sleeping in pg_sleep. */
async function sleepers(): Promise<number> {
  const [row] = await observer`select count(*)::int as n from pg_stat_activity where datname = ${testDb.name} and query like '%pg_sleep(10)%' and state = 'active' and pid <> pg_backend_pid()`;
  return row!.n as number;
}

/** Runs work and returns its rejection with how long it took; fails if it resolves. */
async function failure(work: () => Promise<unknown>): Promise<{ err: { code?: string }; ms: number }> {
  const started = performance.now();
  const err = await work().then(
    () => {
      throw new Error("expected the query to fail");
    },
    (e: unknown) => e as { code?: string },
  );
  return { err, ms: performance.now() - started };
}

describe("statement timeout", () => {
  it("fails a statement that runs longer than the pool's statement_timeout with 57014", async () => {
    const db = await createTestDatabase("deadlines_timeout");
    const short = await open(db.url, 300);
    try {
      const { err, ms } = await failure(() => short.sql`select pg_sleep(10)`);
      expect(err.code).toBe("57014");
      expect(ms).toBeLessThan(3000);
      expect((await short.sql`show statement_timeout`)[0]!.statement_timeout).toBe("300ms");
    } finally {
      await short.close();
      await db.drop();
    }
  });
});

describe("runWithQuerySignal", () => {
  it("cancels a running query of the pool when the signal aborts", async () => {
    const call = new AbortController();
    const running = failure(() => runWithQuerySignal(call.signal, () => database.sql`select pg_sleep(10)`));
    await waitFor(async () => (await sleepers()) === 1, { what: "query running" });
    call.abort();
    const { err, ms } = await running;
    expect(err.code).toBe("57014");
    expect(ms).toBeLessThan(5000);
    expect(await sleepers()).toBe(0);
  });

  it("cancels queries inside a transaction and drizzle's queries", async () => {
    const inTx = new AbortController();
    const tx = failure(() => runWithQuerySignal(inTx.signal, () => database.sql.begin(async (t) => t`select pg_sleep(10)`)));
    await waitFor(async () => (await sleepers()) === 1, { what: "transaction query running", timeoutMs: 30_000 });
    inTx.abort();
    expect((await tx).err.code).toBe("57014");

    const viaDrizzle = new AbortController();
    // Awaited inside, as a handler does: drizzle's queries run when awaited, and the signal goes with that.
    const drizzled = failure(() => runWithQuerySignal(viaDrizzle.signal, async () => await database.db.execute(drizzleSql`select pg_sleep(10)`)));
    await waitFor(async () => (await sleepers()) === 1, { what: "drizzle query running", timeoutMs: 30_000 });
    viaDrizzle.abort();
    const { err } = await drizzled;
    expect((err as { cause?: { code?: string } }).cause?.code ?? err.code).toBe("57014");
    expect(await sleepers()).toBe(0);
  }, 75_000);

  it("never touches a query that finished, nor fragments that never run, nor work outside a call", async () => {
    // One connection: a late cancel of the first query would hit whatever that connection runs next.
    const db = await createTestDatabase("deadlines_single");
    const single = await open(db.url, 10_000, 1);
    try {
      const call = new AbortController();
      const rows = await runWithQuerySignal(call.signal, async () => {
        const fragment = single.sql`1 + 1 as two`;
        return single.sql`select ${fragment}`;
      });
      expect(rows[0]!.two).toBe(2);
      const later = single.sql`select pg_sleep(0.3), 'finished' as outcome`.then((r) => r[0]!.outcome as string);
      call.abort();
      expect(await later).toBe("finished");
    } finally {
      await single.close();
      await db.drop();
    }
  });

  it("drops a query that has not started when the signal is already aborted", async () => {
    const call = new AbortController();
    call.abort();
    const { err } = await failure(() => runWithQuerySignal(call.signal, () => database.sql`select 1`));
    expect(err.code).toBe("57014");
  });
});
