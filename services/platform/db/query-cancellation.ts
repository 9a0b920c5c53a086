import { AsyncLocalStorage } from "node:async_hooks";
import type { Sql } from "postgres";
import { interceptQueries, whenExecuted, type QueryInternals } from "./query-interception.js";

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
  return interceptQueries(sql, {
    query: watch,
    // The callback is the last argument (begin(fn) or begin(options, fn)); its transaction is wrapped too.
    transaction(run, args) {
      const fn = args.at(-1) as (tx: Sql) => unknown;
      return run(...args.slice(0, -1), (tx: Sql) => fn(cancellableSql(tx)));
    },
  });
}

/**
 * Arms cancellation when postgres.js executes the query (never for a fragment that is not run, whose
 * rejection nobody would await). Disarmed once the query settles, so a finished query's connection,
 * by then running someone else's query, is never signalled.
 */
function watch<T>(result: T): T {
  const signal = callSignal.getStore();
  if (!signal || typeof (result as unknown as QueryInternals)?.canceller !== "function") return result;
  return whenExecuted(result, (query) => {
    if (signal.aborted) return cancel(query);
    const onAbort = () => cancel(query);
    signal.addEventListener("abort", onAbort, { once: true });
    const disarm = () => signal.removeEventListener("abort", onAbort);
    query.then(disarm, disarm);
  });
}
