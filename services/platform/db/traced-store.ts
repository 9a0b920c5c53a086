import { sqlStateOf } from "./sql-state.js";
import {
  ATTR_CODE_FUNCTION_NAME,
  ATTR_DB_NAMESPACE,
  ATTR_DB_OPERATION_NAME,
  ATTR_DB_SYSTEM_NAME,
  ATTR_SERVER_ADDRESS,
  ATTR_SERVER_PORT,
  DB_SYSTEM_NAME_VALUE_POSTGRESQL,
} from "@opentelemetry/semantic-conventions";
import { contextWith, endWithError, isTracing, runInContext, SpanKind, startSpan, type Attributes } from "../telemetry/index.js";
import type { DatabaseLocation } from "./database.js";

/**
 * The store with every method of its class run in a CLIENT span "<method> <database>" (db.system.name
 * postgresql, db.namespace, db.operation.name = the method, code.function.name = Class.method, the
 * server): postgres.js has no OpenTelemetry instrumentation, and one wrapper here spares each store
 * method its own span code. A method calls its siblings on the store itself, so only the outermost
 * call is a span. Calls outside any span (a timer's poll) start none: they would each be a trace of one
 * span. While the process does not trace the store is returned as it is, at no cost per call.
 */
export function tracedStore<T extends object>(store: T, location: DatabaseLocation): T {
  if (!isTracing()) return store;
  const prototype = Object.getPrototypeOf(store) as object;
  const className = prototype.constructor.name;
  const traced = Object.create(store) as Record<string, unknown>;
  for (const name of Object.getOwnPropertyNames(prototype)) {
    const method = (store as Record<string, unknown>)[name];
    if (name === "constructor" || typeof method !== "function") continue;
    const attributes: Attributes = {
      [ATTR_DB_SYSTEM_NAME]: DB_SYSTEM_NAME_VALUE_POSTGRESQL,
      [ATTR_DB_NAMESPACE]: location.name,
      [ATTR_DB_OPERATION_NAME]: name,
      [ATTR_CODE_FUNCTION_NAME]: `${className}.${name}`,
      [ATTR_SERVER_ADDRESS]: location.host,
      [ATTR_SERVER_PORT]: location.port,
    };
    traced[name] = (...args: unknown[]) => {
      const span = startSpan(`${name} ${location.name}`, { kind: SpanKind.CLIENT, requireParent: true, attributes });
      if (!span) return method.apply(store, args);
      let result: unknown;
      try {
        result = runInContext(contextWith(span), () => method.apply(store, args));
      } catch (err) {
        endWithError(span, err);
        throw err;
      }
      if (typeof (result as PromiseLike<unknown> | undefined)?.then !== "function") {
        span.end();
        return result;
      }
      return Promise.resolve(result).then(
        (value) => {
          span.end();
          return value;
        },
        (err: unknown) => {
          endWithError(span, err, sqlStateOf(err));
          throw err;
        },
      );
    };
  }
  return traced as T;
}
