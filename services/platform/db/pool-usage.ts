import type { Sql } from "postgres";

/** How much work a pool has running right now. */
export interface PoolUsage {
  /** Top-level queries executing plus transactions open: each holds one connection while it runs. */
  busy(): number;
}

/** The parts of a postgres.js query (3.4) this file relies on, as in query-cancellation.ts. */
interface QueryInternals {
  handle(): Promise<unknown>;
  then(onFulfilled: () => void, onRejected: () => void): unknown;
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
  const count = <T>(result: T): T => {
    const query = result as unknown as QueryInternals;
    if (typeof query?.handle !== "function") return result;
    const execute = query.handle;
    let counted = false;
    query.handle = function (this: QueryInternals) {
      if (!counted) {
        counted = true;
        busy++;
        query.then(settle, settle);
      }
      return execute.call(this);
    };
    return result;
  };
  const counted = new Proxy(sql, {
    apply: (target, self, args) => count(Reflect.apply(target, self, args)),
    get(target, property, receiver) {
      const value: unknown = Reflect.get(target, property, receiver);
      if (typeof value !== "function") return value;
      if (property === "unsafe" || property === "file") return (...args: unknown[]) => count(value.apply(target, args));
      if (property === "begin") {
        return (...args: unknown[]) => {
          busy++;
          return (value.apply(target, args) as Promise<unknown>).finally(settle);
        };
      }
      return value;
    },
  });
  return { sql: counted, usage: { busy: () => busy } };
}
