import type { Sql } from "postgres";
import { interceptQueries, whenExecuted } from "./query-interception.js";

/** How much work a pool has running right now. */
export interface PoolUsage {
  /** Top-level queries executing plus transactions open: each holds one connection while it runs. */
  busy(): number;
}

/**
 * The pool, counting its work: postgres.js keeps its connections' state to itself, so the pool gauges
 * (platform/metrics db-metrics.ts) are derived from what runs through it. A query counts from the
 * moment postgres.js executes it (never for a fragment nested into another query) until it settles; a
 * transaction (begin) counts once for its whole life, its own queries not again. More work than
 * connections means work queued, or pipelined behind another query on a busy connection.
 */
export function countPoolWork(sql: Sql): { sql: Sql; usage: PoolUsage } {
  let busy = 0;
  const settle = () => void busy--;
  const counted = interceptQueries(sql, {
    query: (result) =>
      whenExecuted(result, (query) => {
        busy++;
        query.then(settle, settle);
      }),
    transaction(run, args) {
      busy++;
      return run(...args).finally(settle);
    },
  });
  return { sql: counted, usage: { busy: () => busy } };
}
