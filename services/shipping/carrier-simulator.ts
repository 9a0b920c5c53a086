import { exponentialBackoff, type Logger } from "../platform/process/index.js";
import type { ShipmentStore } from "./shipment-store.js";
import type { ShipmentState } from "./shipment-transitions.js";

/** How long after reaching a status the carrier takes its next step, in ms; undefined: it takes none. */
export type CarrierSchedule = (status: ShipmentState) => number | undefined;

/** The simulated carrier's delays (CARRIER_PICKUP_AFTER, CARRIER_DELIVER_AFTER); undefined is off. */
export interface CarrierDelays {
  /** From creation to PICKED_UP. */
  pickupAfterMs: number | undefined;
  /** From PICKED_UP to DELIVERED, with IN_TRANSIT half way. */
  deliverAfterMs: number | undefined;
}

/** The schedule of a simulated carrier with these delays. */
export function carrierSchedule({ pickupAfterMs, deliverAfterMs }: CarrierDelays): CarrierSchedule {
  return (status) => {
    if (status === "pending") return pickupAfterMs;
    if (status === "picked_up" || status === "in_transit") return deliverAfterMs === undefined ? undefined : Math.round(deliverAfterMs / 2);
    return undefined;
  };
}

/** Whether the delays plan any step at all (both off: no simulator runs). */
export function carrierIsOn(delays: CarrierDelays): boolean {
  return delays.pickupAfterMs !== undefined || delays.deliverAfterMs !== undefined;
}

/** What the simulator needs. */
export interface CarrierSimulatorOptions {
  store: ShipmentStore;
  logger: Logger;
  /** Shipments moved per transaction. Default 20. */
  batchSize?: number;
  /** Longest sleep between looks, so steps planned by other replicas (or after a restart) are found. Default 1 s. */
  pollIntervalMs?: number;
}

/** A running simulated carrier. */
export interface CarrierSimulator {
  /** Finishes the batch in hand, then stops. */
  stop(): Promise<void>;
}

// A step found due but locked by another replica's batch: look again soon, not in a busy loop.
const minSleepMs = 25;

/**
 * The carrier of local runs: moves shipments whose carrier_due_at has come one step along their life
 * (pending -> picked_up -> in_transit -> delivered) through the store's own transition, with its
 * events, in small batches. It sleeps until the next planned step or the poll interval, whichever
 * comes first; any number of shipping replicas share the work (the store claims with SKIP LOCKED).
 */
export function startCarrierSimulator(options: CarrierSimulatorOptions): CarrierSimulator {
  const { store } = options;
  const log = options.logger.child({ component: "carrier-simulator" });
  const batchSize = options.batchSize ?? 20;
  const pollIntervalMs = options.pollIntervalMs ?? 1000;
  const backoff = exponentialBackoff({ initialMs: 200, maxMs: 10_000 });
  let stopped = false;
  let failures = 0;
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> | undefined;

  const tick = async () => {
    let sleepMs = pollIntervalMs;
    try {
      let moved: number;
      do {
        moved = await store.advanceDue(batchSize);
        if (moved > 0) log.debug({ moved }, "carrier moved shipments");
      } while (moved === batchSize && !stopped);
      failures = 0;
      const next = await store.nextCarrierDue();
      if (next) sleepMs = Math.min(Math.max(next.getTime() - Date.now(), minSleepMs), pollIntervalMs);
    } catch (err) {
      failures++;
      sleepMs = backoff(failures);
      log.warn({ err: err instanceof Error ? err.message : String(err), retryInMs: sleepMs }, "carrier step failed; will retry");
    }
    if (!stopped) timer = setTimeout(run, sleepMs);
  };
  const run = () => {
    timer = undefined;
    running = tick().finally(() => {
      running = undefined;
    });
  };
  run();
  log.info("simulated carrier started");

  return {
    async stop() {
      stopped = true;
      clearTimeout(timer);
      await running;
    },
  };
}
