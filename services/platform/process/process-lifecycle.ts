import type { Logger } from "./logger.js";

/**
 * Runs a service's main: logs a failed start as one clear line and exits 1; on SIGTERM or SIGINT runs
 * the stop steps in order once and exits 0 (a second signal exits at once).
 */
export async function runProcess(logger: Logger, start: () => Promise<Array<() => Promise<unknown>>>): Promise<void> {
  let stops: Array<() => Promise<unknown>>;
  try {
    stops = await start();
  } catch (err) {
    logger.fatal({ err }, `failed to start: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(1);
  }
  let stopping = false;
  const onSignal = async (signal: NodeJS.Signals) => {
    if (stopping) process.exit(1);
    stopping = true;
    logger.info({ signal }, "shutting down");
    for (const stop of stops) {
      try {
        await stop();
      } catch (err) {
        logger.error({ err }, "error during shutdown");
      }
    }
    logger.info("stopped");
    process.exit(0);
  };
  process.on("SIGTERM", (s) => void onSignal(s));
  process.on("SIGINT", (s) => void onSignal(s));
}
