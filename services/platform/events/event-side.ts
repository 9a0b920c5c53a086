import { setTimeout as sleep } from "node:timers/promises";
import { jetstreamManager, type JetStreamManager } from "@nats-io/jetstream";
import { exponentialBackoff } from "../process/backoff.js";
import type { Logger } from "../process/logger.js";
import { connectNats, type NatsConnection } from "./nats-connection.js";

/** Something the event side started, stopped on shutdown. */
export type Stoppable = () => Promise<unknown> | unknown;

/** What a service's event side is made of. */
export interface EventSideOptions {
  natsUrl: string;
  logger: Logger;
  /** Connection name shown by the NATS server, e.g. the service's name. */
  name: string;
  /** Runs first once connected (e.g. a core subscription that must not wait for the streams). */
  onConnected?(nc: NatsConnection): Promise<void> | void;
  /** Declares the streams this process publishes to; retried with backoff until it succeeds. */
  declare(jsm: JetStreamManager): Promise<unknown>;
  /** Starts relays and consumers; returns how to stop them, in the order they were started. */
  start(nc: NatsConnection, jsm: JetStreamManager): Promise<Stoppable[]>;
}

/** A running (or still connecting) event side. */
export interface EventSide {
  /** The process's NATS connection once the first connection succeeded (pending until then), for others to share. */
  connected: Promise<NatsConnection>;
  /** Stops what was started in reverse order and drains the connection; nothing to do if NATS never answered. */
  stop(): Promise<void>;
}

/**
 * Starts a service's event side in the background: the service serves RPCs meanwhile, and its outbox
 * keeps every change while NATS is away, so health does not depend on NATS and the event side starts
 * whenever the first connection succeeds. NATS may go again right after that connection, so declaring
 * the streams is retried rather than fatal; anything else failing at start stops the process.
 */
export function startEventSide(options: EventSideOptions): EventSide {
  const { logger } = options;
  let nc: NatsConnection | undefined;
  let stopping = false;
  // Cuts a retry wait short, so a stop while NATS refuses the declaration does not wait out the backoff.
  const stopWaiting = new AbortController();
  const started: Stoppable[] = [];
  let announce: (nc: NatsConnection) => void = () => {};
  const connected = new Promise<NatsConnection>((resolve) => (announce = resolve));
  const starting = (async () => {
    nc = await connectNats(options.natsUrl, logger, options.name, { waitOnFirstConnect: true });
    announce(nc);
    await options.onConnected?.(nc);
    const jsm = await jetstreamManager(nc);
    const backoff = exponentialBackoff({ initialMs: 500, maxMs: 10_000 });
    for (let attempt = 1; !stopping; attempt++) {
      try {
        await options.declare(jsm);
        break;
      } catch (err) {
        const retryInMs = backoff(attempt);
        logger.warn({ err: err instanceof Error ? err.message : String(err), retryInMs }, "could not declare the event streams; will retry");
        await sleep(retryInMs, undefined, { signal: stopWaiting.signal }).catch(() => undefined);
      }
    }
    if (stopping) return;
    started.push(...(await options.start(nc, jsm)));
  })().catch((err: unknown) => {
    logger.fatal({ err }, "event side failed to start");
    process.exit(1);
  });
  return {
    connected,
    async stop() {
      stopping = true;
      stopWaiting.abort();
      if (!nc) return; // never connected: nothing to drain, the outbox keeps the events
      await starting;
      for (const stop of started.reverse()) await stop();
      await nc.drain();
    },
  };
}
