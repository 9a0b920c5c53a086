/**
 * The platform outbox relay alone, on a fresh orders database and stream, as `npm run bench:relay`
 * and the broker rows of `npm run bench` run it: a backlog drain and a steady stream of commits.
 * CPU is this process (relay and the committing writer together) and PostgreSQL's backends.
 */
import { randomBytes, randomUUID } from "node:crypto";
import { jetstreamManager } from "@nats-io/jetstream";
import postgres from "postgres";
import * as schema from "../services/orders/db/schema.js";
import { outboxChannel } from "../services/orders/db/schema.js";
import { openDatabase } from "../services/platform/db/index.js";
import {
  catalogue,
  connectNats,
  deadLetterStreamName,
  defaultEventStreamLimits,
  encodeEvent,
  ensureEventStreams,
  startOutboxRelay,
  untilJetStreamAnswers,
  type EncodedEvent,
} from "../services/platform/events/index.js";
import { createLogger } from "../services/platform/process/index.js";
import { cpuByCommand, cpuMicros } from "./cpu.js";
import { newHistogram, recordMs, summarize, type LatencySummary } from "./histogram.js";
import { deleteStreams, dropDatabases } from "./mesh.js";

/** Where the relay runs. */
export interface RelayBenchOptions {
  /** postgres:// of the server (any database) on which the fresh database is created. */
  postgresUrl: string;
  /** NATS_URL of the broker (several comma-separated URLs for a cluster). */
  natsUrl: string;
  /** num_replicas of the run's streams (3 on a 3-node cluster). Default 1. */
  replicas?: number;
}

/** CPU µs per row of this process and of PostgreSQL. */
export interface RelayCpu {
  self: number;
  postgres: number;
}

/** A backlog drained by one relay. */
export interface RelayDrain {
  rows: number;
  ms: number;
  rowsPerSec: number;
  cpuPerRow: RelayCpu;
}

/** Rows committed one per transaction at a fixed rate while the relay ran. */
export interface RelaySteady {
  rows: number;
  /** When the last commit was done, from the first. */
  committedMs: number;
  /** Commit to published of every row. */
  latency: LatencySummary;
  cpuPerRow: RelayCpu;
}

/** A database and stream for the relay, ready to measure. */
export interface RelayBench {
  /** Commits `rows` while no relay runs, then starts one and times it until every row is published. */
  drain(rows: number): Promise<RelayDrain>;
  /** Commits `ratePerSec` rows per second for `durationMs`, one per transaction, while a relay runs. */
  steady(ratePerSec: number, durationMs: number): Promise<RelaySteady>;
  /** Drops the database and deletes the streams. */
  close(): Promise<void>;
}

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

const perRow = (cpu: { self: number; postgres: number }, rows: number): RelayCpu => ({ self: Math.round(cpu.self / rows), postgres: Math.round(cpu.postgres / rows) });

function orderEvent(): EncodedEvent {
  return encodeEvent(catalogue.orderCreated, { eventId: randomUUID(), order: { id: randomUUID(), customerId: "bench-relay", customerEmail: "bench@example.com", currency: "EUR" } });
}

/** Creates a fresh orders database (migrated) and event streams on the broker. */
export async function openRelayBench(options: RelayBenchOptions): Promise<RelayBench> {
  const run = `${Date.now().toString(36)}${randomBytes(3).toString("hex")}`;
  const url = new URL(options.postgresUrl);
  url.pathname = `/bench_relay_${run}`;
  const stream = `BENCHRELAY_${run.toUpperCase()}`;
  const subjectPrefix = `benchrelay_${run}`;
  const logger = createLogger("bench-relay", "warn");
  const db = await openDatabase({ url: url.toString(), schema, migrationsFolder: "services/orders/db/migrations", migrationsTable: "__migrations_orders", poolSize: 10 });
  const nc = await connectNats(options.natsUrl, logger, "bench-relay");
  const writer = postgres(url.toString(), { max: 8, onnotice: () => {} });
  const close = async () => {
    await writer.end({ timeout: 5 });
    await nc.close();
    await db.close();
    await dropDatabases(options.postgresUrl, [url.toString()]);
    await deleteStreams(options.natsUrl, [stream, deadLetterStreamName(stream)]);
  };
  try {
    // A fresh cluster elects its JetStream leaders for a few seconds after its nodes take clients.
    const jsm = await untilJetStreamAnswers("bench relay streams", () => jetstreamManager(nc), logger);
    const limits = { ...defaultEventStreamLimits, replicas: options.replicas ?? 1 };
    await untilJetStreamAnswers("bench relay streams", () => ensureEventStreams(jsm, { stream, subjectPrefix, limits }), logger);
  } catch (err) {
    await close();
    throw err;
  }
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

  return {
    async drain(rows) {
      for (let i = 0; i < rows; i += 1000) await insert(Array.from({ length: Math.min(1000, rows - i) }, orderEvent));
      const meter = cpuMeter();
      const t0 = performance.now();
      const r = await relay();
      await waitDrained();
      const ms = performance.now() - t0;
      const cpu = meter();
      await r.stop();
      await writer`truncate outbox`;
      return { rows, ms, rowsPerSec: Math.round((rows * 1000) / ms), cpuPerRow: perRow(cpu, rows) };
    },
    async steady(ratePerSec, durationMs) {
      const r = await relay();
      const total = (ratePerSec * durationMs) / 1000;
      const ids: string[] = [];
      const meter = cpuMeter();
      const start = performance.now();
      const inFlight: Array<Promise<unknown>> = [];
      for (let sent = 0; sent < total; ) {
        const due = Math.min(total, Math.floor(((performance.now() - start) * ratePerSec) / 1000) + 1);
        for (; sent < due; sent++) {
          const event = orderEvent();
          ids.push(event.id);
          // One row per transaction, as CreateOrder commits them, each waking the relay by NOTIFY.
          inFlight.push(insert([event]));
        }
        await new Promise((resolve) => setTimeout(resolve, 1));
      }
      await Promise.all(inFlight);
      const committedMs = performance.now() - start;
      await waitDrained();
      const cpu = meter();
      await r.stop();
      const latency = newHistogram();
      const published = await writer<Array<{ ms: string }>>`
        select (extract(epoch from (published_at - created_at)) * 1000)::text as ms from outbox where id = any(${ids}::uuid[])`;
      for (const row of published) recordMs(latency, Number(row.ms));
      await writer`truncate outbox`;
      return { rows: total, committedMs, latency: summarize(latency), cpuPerRow: perRow(cpu, total) };
    },
    close,
  };
}
