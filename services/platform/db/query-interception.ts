import type { Sql } from "postgres";

/**
 * The parts of a postgres.js query (3.4) the pool's wrappers rely on (query cancellation, pool usage);
 * query-deadlines.test.ts and pool-usage.test.ts fail if they change.
 */
export interface QueryInternals {
  /** Executes the query; called by then/catch/finally, never for a fragment nested in another query. */
  handle(): Promise<unknown>;
  /** Asks the server to cancel the query if it runs, or drops it if it waits; null once used. */
  canceller: ((query: QueryInternals) => Promise<unknown>) | null;
  then(onFulfilled: () => void, onRejected: () => void): unknown;
}

/**
 * Calls onExecute once, when postgres.js executes the query, never at creation: a tagged template is
 * also how postgres.js builds fragments that are nested into other queries and never run. Anything
 * that is not a query passes through untouched.
 */
export function whenExecuted<T>(result: T, onExecute: (query: QueryInternals) => void): T {
  const query = result as unknown as QueryInternals;
  if (typeof query?.handle !== "function") return result;
  const execute = query.handle;
  let executed = false;
  query.handle = function (this: QueryInternals) {
    if (!executed) {
      executed = true;
      onExecute(query);
    }
    return execute.call(this);
  };
  return result;
}

/** What a pool wrapper does with the pool's queries and transactions. */
export interface QueryInterception {
  /** Each query the pool creates: tagged templates, unsafe() (drizzle's) and file(). */
  query<T>(result: T): T;
  /** A begin() or savepoint() call: run it (with these arguments, the callback last) and return its promise. */
  transaction(run: (...args: unknown[]) => Promise<unknown>, args: unknown[]): Promise<unknown>;
}

/** The pool behind a Proxy that hands its queries and transactions to interception; everything else is the pool's. */
export function interceptQueries(sql: Sql, interception: QueryInterception): Sql {
  return new Proxy(sql, {
    apply: (target, self, args) => interception.query(Reflect.apply(target, self, args)),
    get(target, property, receiver) {
      const value: unknown = Reflect.get(target, property, receiver);
      if (typeof value !== "function") return value;
      if (property === "unsafe" || property === "file") return (...args: unknown[]) => interception.query(value.apply(target, args));
      if (property === "begin" || property === "savepoint") {
        return (...args: unknown[]) => interception.transaction((...run: unknown[]) => value.apply(target, run) as Promise<unknown>, args);
      }
      return value;
    },
  });
}
