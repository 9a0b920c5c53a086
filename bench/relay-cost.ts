/**
 * `npm run bench:relay`: the platform outbox relay alone, on a fresh orders database and stream. Two
 * phases, each repeated: a backlog drain (rows committed while no relay ran, then one relay publishes
 * them all: rows/s and CPU per row) and a steady stream (rows committed one per transaction at a fixed
 * rate, as CreateOrder does, while the relay runs: commit->published p50/p99 and CPU per row). CPU is
 * this process (relay and the committing writer together) and PostgreSQL's backends.
 * BENCH_NATS_URL may name a cluster (comma-separated URLs) with BENCH_STREAM_REPLICAS=3.
 */
import { readPositiveInt } from "../services/platform/process/index.js";
import { openRelayBench } from "./relay-bench.js";

const postgresUrl = process.env.BENCH_POSTGRES_URL ?? "postgres://postgres@127.0.0.1:5432/postgres";
const natsUrl = process.env.BENCH_NATS_URL ?? "nats://127.0.0.1:4222";
const backlogRows = 20_000;
const steadyRate = 500;
const steadyMs = 10_000;
const rounds = 2;

async function main(): Promise<void> {
  const bench = await openRelayBench({ postgresUrl, natsUrl, replicas: readPositiveInt(process.env, "BENCH_STREAM_REPLICAS", 1) });
  try {
    for (let round = 1; round <= rounds; round++) {
      const d = await bench.drain(backlogRows);
      console.log(
        `drain   round ${round}: ${d.rows} rows in ${d.ms.toFixed(0)} ms = ${d.rowsPerSec} rows/s; ` +
          `CPU µs/row: process ${d.cpuPerRow.self}, postgres ${d.cpuPerRow.postgres}`,
      );
      const s = await bench.steady(steadyRate, steadyMs);
      console.log(
        `steady  round ${round}: ${steadyRate} rows/s for ${steadyMs / 1000} s (all committed after ${(s.committedMs / 1000).toFixed(1)} s); commit->published p50 ${s.latency.p50Ms.toFixed(1)} ms, p99 ${s.latency.p99Ms.toFixed(1)} ms; ` +
          `CPU µs/row: process ${s.cpuPerRow.self}, postgres ${s.cpuPerRow.postgres}`,
      );
    }
  } finally {
    await bench.close();
  }
}

try {
  await main();
} catch (err) {
  console.error(err instanceof Error ? err.stack : err);
  process.exitCode = 1;
}
