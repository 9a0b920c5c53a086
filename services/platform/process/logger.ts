import { pino, type Logger } from "pino";

export type { Logger } from "pino";

/** Creates the JSON logger of one process; every line carries the service name. */
export function createLogger(service: string, level = process.env.LOG_LEVEL ?? "info"): Logger {
  return pino({ name: service, level, base: { service } });
}
