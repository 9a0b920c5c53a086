import { AsyncLocalStorage } from "node:async_hooks";
import type { Sql } from "postgres";

// The signal of the RPC whose handler is running, carried through its awaits to the queries it starts.
const callSignal = new AsyncLocalStorage<AbortSignal>();

/**
 * Runs fn as the work of a call with this signal: queries that fn starts on a pool made by
 * cancellableSql and that still run when the signal aborts (the caller's deadline passed, it
 * cancelled, the server shuts down) are cancelled on the server, so they stop holding a connection
 * and locks for an answer nobody waits for. They then fail with SQLSTATE 57014.
 */
export function runWithQuerySignal<T>(signal: AbortSignal, fn: () => T): T {
  return callSignal.run(signal, fn);
}

/** The parts of a postgres.js query (3.4) this file relies on; query-cancellation.test.ts fails if they change. */
interface QueryInternals {
  /** Executes the query; called by then/catch/finally, never for a fragment nested in another query. */
  handle(): Promise<unknown>;
  /** Asks the server to cancel the query if it runs, or drops it if it waits; null once used. */
  canceller: ((query: QueryInternals) => Promise<unknown>) | null;
  then(onFulfilled: () => void, onRejected: () => void): unknown;
}

/**
 * Cancels through the canceller itself rather than query.cancel(), which drops the promise of the
 * cancel request: when that request fails (the database is unreachable) the rejection would go
 * unhandled and end the process.
 */
function cancel(query: QueryInternals): void {
  const canceller = query.canceller;
  if (!canceller) return;
  query.canceller = null;
  Promise.resolve(canceller(query)).catch(() => undefined);
}

/**
 * The pool, with every query started inside runWithQuerySignal cancelled when that signal aborts:
 * queries of the pool itself, of its unsafe() calls (drizzle's), and inside begin() and savepoint()
 * transactions. Work outside runWithQuerySignal (consumers, relays) is untouched.
 */
export function cancellableSql(sql: Sql): Sql {
  return new Proxy(sql, {
    apply: (target, self, args) => watch(Reflect.apply(target, self, args)),
    get(target, property, receiver) {
      const value: unknown = Reflect.get(target, property, receiver);
      if (typeof value !== "function") return value;
      if (property === "unsafe" || property === "file") return (...args: unknown[]) => watch(value.apply(target, args));
      if (property === "begin" || property === "savepoint") {
        // The callback is the last argument (begin(fn) or begin(options, fn)); its transaction is wrapped too.
        return (...args: unknown[]) => {
          const fn = args.at(-1) as (tx: Sql) => unknown;
          return value.apply(target, [...args.slice(0, -1), (tx: Sql) => fn(cancellableSql(tx))]);
        };
      }
      return value;
    },
  });
}

/**
 * Arms cancellation when postgres.js executes the query, never at creation: a tagged template is
 * also how postgres.js builds fragments that are nested into other queries and never run, and
 * cancelling one of those would reject a promise nobody awaits. Disarmed once the query settles, so
 * a finished query's connection, by then running someone else's query, is never signalled.
 */
function watch<T>(result: T): T {
  const signal = callSignal.getStore();
  const query = result as unknown as QueryInternals;
  if (!signal || typeof query?.handle !== "function" || typeof query.canceller !== "function") return result;
  const execute = query.handle;
  let armed = false;
  query.handle = function (this: QueryInternals) {
    if (!armed) {
      armed = true;
      if (signal.aborted) cancel(query);
      else {
        const onAbort = () => cancel(query);
        signal.addEventListener("abort", onAbort, { once: true });
        const disarm = () => signal.removeEventListener("abort", onAbort);
        query.then(disarm, disarm);
      }
    }
    return execute.call(this);
  };
  return result;
}
