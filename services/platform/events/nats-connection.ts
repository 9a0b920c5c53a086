import { connect, type NatsConnection } from "@nats-io/transport-node";
import type { Logger } from "../process/logger.js";
import { readString, readUrl, type Env } from "../process/config.js";

export type { NatsConnection } from "@nats-io/transport-node";

/** Options of connectNats beyond the URL. */
export interface ConnectNatsOptions {
  /**
   * Keep trying until the first connection succeeds instead of failing at once. A process that must
   * start while NATS is down (orders accepting orders into its outbox) sets this and does not await it.
   */
  waitOnFirstConnect?: boolean;
  /** Pause between reconnect attempts; nats.js adds jitter so replicas do not stampede. */
  reconnectTimeWaitMs?: number;
}

// Connection state per connection, fed by the status iterator; nats.js itself only exposes isClosed().
const connectedState = new WeakMap<NatsConnection, boolean>();

/**
 * Reads NATS_URL: one server URL, or a comma-separated list of a cluster's servers (the client learns
 * the rest from the cluster and fails over between them), each nats:// or tls://.
 */
export function readNatsUrl(env: Env): string {
  const raw = readString(env, "NATS_URL", "nats://127.0.0.1:4222");
  for (const server of raw.split(",")) readUrl({ NATS_URL: server.trim() }, "NATS_URL", "", ["nats", "tls"]);
  return raw;
}

/** Connects to NATS (a URL or a comma-separated list), reconnecting forever after a loss, and logs every status change. */
export async function connectNats(url: string, logger: Logger, name: string, options: ConnectNatsOptions = {}): Promise<NatsConnection> {
  const nc = await connect({
    servers: url.split(",").map((server) => server.trim()),
    name,
    // -1: never give up; a broker restart must not turn into a silent dead process.
    maxReconnectAttempts: -1,
    reconnectTimeWait: options.reconnectTimeWaitMs ?? 1000,
    waitOnFirstConnect: options.waitOnFirstConnect ?? false,
    // Detect a half-open TCP connection (server killed -9, network drop) in ~10 s rather than minutes.
    pingInterval: 5000,
    maxPingOut: 2,
    // nats.js otherwise builds an Error (a stack capture) per publish and request in advance, only to
    // give a timeout its caller's stack: ~3% of orders' CPU under load. The errors keep their type and message.
    noAsyncTraces: true,
  });
  connectedState.set(nc, true);
  logger.info({ nats: nc.getServer(), name }, "nats connected");
  void watchStatus(nc, logger);
  return nc;
}

async function watchStatus(nc: NatsConnection, logger: Logger): Promise<void> {
  for await (const status of nc.status()) {
    switch (status.type) {
      case "disconnect":
        connectedState.set(nc, false);
        logger.warn({ nats: status.server }, "nats disconnected");
        break;
      case "reconnect":
        connectedState.set(nc, true);
        logger.info({ nats: status.server }, "nats reconnected");
        break;
      case "error":
        logger.warn({ err: status.error }, "nats server error");
        break;
      case "staleConnection":
        logger.warn("nats connection stale");
        break;
      case "close":
        connectedState.set(nc, false);
        break;
      default:
        // ping/update/reconnecting arrive often and say nothing an operator needs.
        break;
    }
  }
  connectedState.set(nc, false);
}

/** Whether the connection is currently up (false while reconnecting and after close). */
export function isNatsConnected(nc: NatsConnection): boolean {
  return !nc.isClosed() && connectedState.get(nc) !== false;
}

/** A health check: rejects unless connected, then proves the round trip with a flush (PING/PONG). */
export async function checkNats(nc: NatsConnection): Promise<void> {
  if (!isNatsConnected(nc)) throw new Error("nats not connected");
  await nc.flush();
}
