/**
 * `npm run bench:relay`: the platform outbox relay alone, on a fresh orders database and stream. Two
 * phases, each repeated: a backlog drain (rows committed while no relay ran, then one relay publishes
 * them all: rows/s and CPU per row) and a steady stream (rows committed one per transaction at a fixed
 * rate, as CreateOrder does, while the relay runs: commit->published p50/p99 and CPU per row). CPU is
 * this process (relay and the committing writer together) and PostgreSQL's backends.
 */
import { randomBytes, randomUUID } from "node:crypto";
import { jetstreamManager } from "@nats-io/jetstream";
import postgres from "postgres";
import * as schema from "../services/orders/db/schema.js";
import { outboxChannel } from "../services/orders/db/schema.js";
import { openDatabase } from "../services/platform/db/index.js";
import { catalogue, connectNats, deadLetterStreamName, encodeEvent, ensureEventStreams, startOutboxRelay, type EncodedEvent } from "../services/platform/events/index.js";
import { createLogger } from "../services/platform/process/index.js";
import { cpuByCommand, cpuMicros } from "./cpu.js";
import { newHistogram, recordMs, summarize } from "./histogram.js";
import { deleteStreams, dropDatabases } from "./mesh.js";

const postgresUrl = process.env.BENCH_POSTGRES_URL ?? "postgres://postgres@127.0.0.1:5432/postgres";
const natsUrl = process.env.BENCH_NATS_URL ?? "nats://127.0.0.1:4222";
const backlogRows = 20_000;
const steadyRate = 500;
const steadyMs = 10_000;
const rounds = 2;

/** CPU µs of this process and of every PostgreSQL backend since the returned function's creation. */
function cpuMeter(): () => { self: number; postgres: number } {
  const selfBefore = cpuMicros(process.pid);
  const pgBefore = cpuByCommand("postgres");
  return () => {
    let pg = 0;
    for (const [pid, us] of cpuByCommand("postgres")) pg += us - (pgBefore.get(pid) ?? 0);
    return { self: cpuMicros(process.pid) - selfBefore, postgres: pg };
  };
}

function orderEvent(): EncodedEvent {
  return encodeEvent(catalogue.orderCreated, { eventId: randomUUID(), order: { id: randomUUID(), customerId: "bench-relay", customerEmail: "bench@example.com", currency: "EUR" } });
}

async function main(): Promise<void> {
  const run = `${Date.now().toString(36)}${randomBytes(3).toString("hex")}`;
  const url = new URL(postgresUrl);
  url.pathname = `/bench_relay_${run}`;
  const stream = `BENCHRELAY_${run.toUpperCase()}`;
  const subjectPrefix = `benchrelay_${run}`;
  const logger = createLogger("bench-relay", "warn");
  const db = await openDatabase({ url: url.toString(), schema, migrationsFolder: "services/orders/db/migrations", migrationsTable: "__migrations_orders", poolSize: 10 });
  const nc = await connectNats(natsUrl, logger, "bench-relay");
  try {
    await ensureEventStreams(await jetstreamManager(nc), { stream, subjectPrefix });
    const writer = postgres(url.toString(), { max: 8, onnotice: () => {} });
    // created_at is the statement's now(): for a one-row transaction its commit time, give or take the insert.
    const insert = (events: EncodedEvent[]) => writer`
      insert into outbox (id, aggregate_id, event_name, event_type, payload, created_at)
      select *, now() from unnest(${events.map((e) => e.id)}::uuid[], ${events.map((e) => e.orderId)}::uuid[], ${events.map((e) => e.name)}::text[],
                                  ${events.map((e) => e.type)}::text[], ${events.map((e) => `\\x${Buffer.from(e.payload).toString("hex")}`)}::text[]::bytea[])`;
    const pending = async () => Number((await writer`select count(*)::int as n from outbox where published_at is null`)[0]!.n);
    const waitDrained = async () => {
      while ((await pending()) > 0) await new Promise((r) => setTimeout(r, 20));
    };
    const relay = () => startOutboxRelay({ sql: db.sql, nc, logger, family: "orders", subjectPrefix, channel: outboxChannel });

    for (let round = 1; round <= rounds; round++) {
      for (let i = 0; i < backlogRows; i += 1000) await insert(Array.from({ length: 1000 }, orderEvent));
      const meter = cpuMeter();
      const t0 = performance.now();
      const r = await relay();
      await waitDrained();
      const ms = performance.now() - t0;
      const cpu = meter();
      await r.stop();
      console.log(
        `drain   round ${round}: ${backlogRows} rows in ${ms.toFixed(0)} ms = ${Math.round((backlogRows * 1000) / ms)} rows/s; ` +
          `CPU µs/row: process ${Math.round(cpu.self / backlogRows)}, postgres ${Math.round(cpu.postgres / backlogRows)}`,
      );

      const steady = await relay();
      const total = (steadyRate * steadyMs) / 1000;
      const ids: string[] = [];
      const meterSteady = cpuMeter();
      const start = performance.now();
      const inFlight: Array<Promise<unknown>> = [];
      for (let sent = 0; sent < total; ) {
        const due = Math.min(total, Math.floor(((performance.now() - start) * steadyRate) / 1000) + 1);
        for (; sent < due; sent++) {
          const event = orderEvent();
          ids.push(event.id);
          // One row per transaction, as CreateOrder commits them, each waking the relay by NOTIFY.
          inFlight.push(insert([event]));
        }
        await new Promise((r) => setTimeout(r, 1));
      }
      await Promise.all(inFlight);
      const committedMs = performance.now() - start;
      await waitDrained();
      const cpu2 = meterSteady();
      await steady.stop();
      const latency = newHistogram();
      const rows = await writer<Array<{ ms: string }>>`
        select (extract(epoch from (published_at - created_at)) * 1000)::text as ms from outbox where id = any(${ids}::uuid[])`;
      for (const row of rows) recordMs(latency, Number(row.ms));
      const s = summarize(latency);
      console.log(
        `steady  round ${round}: ${steadyRate} rows/s for ${steadyMs / 1000} s (all committed after ${(committedMs / 1000).toFixed(1)} s); commit->published p50 ${s.p50Ms.toFixed(1)} ms, p99 ${s.p99Ms.toFixed(1)} ms; ` +
          `CPU µs/row: process ${Math.round(cpu2.self / total)}, postgres ${Math.round(cpu2.postgres / total)}`,
      );
      await writer`truncate outbox`;
    }
    await writer.end({ timeout: 5 });
  } finally {
    await nc.close();
    await db.close();
    await dropDatabases(postgresUrl, [url.toString()]);
    await deleteStreams(natsUrl, [stream, deadLetterStreamName(stream)]);
  }
}

try {
  await main();
} catch (err) {
  console.error(err instanceof Error ? err.stack : err);
  process.exitCode = 1;
}
