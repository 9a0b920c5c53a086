/**
 * Database ceiling: pgbench running exactly the statement CreateOrder executes (the single CTE insert
 * of services/orders/order-store.ts, prepared, one implicit transaction per order, the outbox NOTIFY
 * trigger included) against a fresh database migrated with the orders migrations.
 */
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import postgres from "postgres";
import * as schema from "../services/orders/db/schema.js";
import { openDatabase } from "../services/platform/db/index.js";
import { catalogue, typeOf } from "../services/platform/events/index.js";

const run = promisify(execFile);

/** What one pgbench run measured. */
export interface PgbenchResult {
  concurrency: number;
  /** Transactions (= orders) per second, excluding connection set-up. */
  tps: number;
  latencyAvgMs: number;
  failed: number;
}

/**
 * The CreateOrder statement with pgbench variables: same tables, columns, casts, conflict clause,
 * unnest of two lines and an outbox payload of the size CreateOrder writes (~330 bytes); traceparent is
 * null, as for the benchmark's calls, which carry no trace context.
 */
export const createOrderScript = `\\set qty random(1, 5)
\\set price random(100, 100000)
with inserted as (
  insert into orders (id, customer_id, customer_email, currency, total_cents, status, shipping_address,
                      request_id, request_hash, created_at, updated_at)
  values (gen_random_uuid(), 'bench-pgbench', 'bench@example.com', 'EUR', (:qty)::bigint * (:price)::bigint + 4500,
          'pending', '{"name":"Bench Mark","line1":"1 Load Street","line2":"","city":"Berlin","postalCode":"10115","country":"DE"}'::jsonb,
          gen_random_uuid()::text, 'nZc4O9LrDkq2mS1h6tQe0yBfXvW7uJ3aGpIo8rT5sKc', now(), now())
  on conflict (customer_id, request_id) do nothing
  returning id
), lines as (
  insert into line_items (order_id, position, sku, quantity, unit_price_cents)
  select inserted.id, x.position, x.sku, x.quantity, x.price
  from inserted, unnest(array['SKU-BENCH-1', 'SKU-BENCH-2']::text[], array[(:qty)::int, 1]::int[], array[(:price)::bigint, 4500]::bigint[])
       with ordinality as x(sku, quantity, price, position)
), events as (
  insert into outbox (id, aggregate_id, event_name, event_type, payload, created_at, traceparent)
  select gen_random_uuid(), inserted.id, '${catalogue.orderCreated.name}', '${typeOf(catalogue.orderCreated)}', '\\x${randomBytes(330).toString("hex")}'::bytea, now(),
         null
  from inserted
)
select id from inserted;
`;

/** Parses pgbench's summary ("tps = 1234.5 (without initial connection time)", "latency average = 3.2 ms"). */
export function parsePgbenchOutput(output: string, concurrency: number): PgbenchResult {
  const tps = Number(/tps = ([\d.]+) \(without initial connection time\)/.exec(output)?.[1] ?? NaN);
  const latencyAvgMs = Number(/latency average = ([\d.]+) ms/.exec(output)?.[1] ?? NaN);
  const failed = Number(/number of failed transactions: (\d+)/.exec(output)?.[1] ?? 0);
  if (!Number.isFinite(tps)) throw new Error(`unexpected pgbench output:\n${output}`);
  return { concurrency, tps, latencyAvgMs, failed };
}

/** Runs the CreateOrder statement under pgbench at each concurrency for `durationSec`, on one fresh database. */
export async function runPgbenchCeiling(serverUrl: string, concurrencies: readonly number[], durationSec: number): Promise<PgbenchResult[]> {
  const name = `bench_pgbench_${Date.now().toString(36)}_${randomBytes(3).toString("hex")}`;
  const url = new URL(serverUrl);
  url.pathname = `/${name}`;
  // openDatabase creates the database and applies the orders migrations exactly as the service does.
  const db = await openDatabase({ url: url.toString(), schema, migrationsFolder: "services/orders/db/migrations", migrationsTable: "__migrations_orders", poolSize: 1 });
  await db.close();
  const dir = mkdtempSync(join(tmpdir(), "ordermesh-pgbench-"));
  const script = join(dir, "create-order.sql");
  writeFileSync(script, createOrderScript);
  try {
    const results: PgbenchResult[] = [];
    for (const c of concurrencies) {
      const { stdout } = await run(
        "pgbench",
        ["-n", "-M", "prepared", "-c", String(c), "-j", String(Math.min(c, 2)), "-T", String(durationSec), "-f", script, url.toString()],
        { maxBuffer: 16 * 1024 * 1024 },
      );
      results.push(parsePgbenchOutput(stdout, c));
    }
    return results;
  } finally {
    rmSync(dir, { recursive: true, force: true });
    const admin = postgres(serverUrl, { max: 1, onnotice: () => {} });
    await admin`drop database if exists ${admin(name)} with (force)`;
    await admin.end({ timeout: 5 });
  }
}
