import { NoRespondersError, RequestError, type NatsConnection } from "@nats-io/transport-node";
import { Svcm, type ServiceClient } from "@nats-io/services";
import type { Logger } from "../process/logger.js";

/** Tuning of discovery; the defaults put a new replica in use within about two seconds. */
export interface ReplicaDiscoveryOptions {
  /** Time between two rounds of $SRV.PING while someone watches a service. Default 2000 ms. */
  intervalMs?: number;
  /** How long one round waits for replicas' answers in all. Default 1000 ms. */
  maxWaitMs?: number;
  /** A round ends once no answer came for this long after the last one. Default 300 ms. */
  stallMs?: number;
  /**
   * Rounds a known replica may miss before it is dropped. Default 3: a replica busy for a moment (a
   * neighbour starting on the same cores) answers a ping late, and dropping it would cut the calls in
   * flight on its connection; a replica really gone is skipped by its broken connection meanwhile.
   */
  missesBeforeRemoval?: number;
  logger: Logger;
}

/** Live gRPC addresses of a service's replicas, as they answer the NATS service API. */
export interface ReplicaDiscovery {
  /** Calls onChange with the service's addresses (sorted) on every change; the first call comes after the first round. */
  watch(service: string, onChange: (addresses: string[]) => void): () => void;
  /** Starts a round now instead of at the next interval (after a connection to a replica failed). */
  refresh(service: string): void;
  /** Stops every round. */
  close(): void;
}

interface Watched {
  listeners: Set<(addresses: string[]) => void>;
  /** Last answer delivered; undefined until the first round answered. */
  addresses: string[] | undefined;
  /** Known addresses and the rounds each has missed in a row. */
  misses: Map<string, number>;
  timer: NodeJS.Timeout | undefined;
  running: Promise<void> | undefined;
}

/**
 * Discovers replicas registered with registerReplica by pinging `$SRV.PING.<service>` and collecting
 * the answers' `grpc` metadata. A round that fails (NATS away) keeps the last known set: the replicas
 * are likely still there, and grpc-js finds out per connection which are not. A new replica is added at
 * the first round that hears it; one is dropped after missesBeforeRemoval rounds without its answer
 * (an empty set makes the resolver answer UNAVAILABLE). `connection` is
 * asked for the NATS connection at the first round (a process may connect after creating this).
 */
export function createReplicaDiscovery(connection: () => Promise<NatsConnection>, options: ReplicaDiscoveryOptions): ReplicaDiscovery {
  const intervalMs = options.intervalMs ?? 2000;
  const missesBeforeRemoval = options.missesBeforeRemoval ?? 3;
  const watched = new Map<string, Watched>();
  let closed = false;
  let client: Promise<ServiceClient> | undefined;
  const serviceClient = () =>
    (client ??= connection().then((nc) => new Svcm(nc as never).client({ strategy: "stall", maxWait: options.maxWaitMs ?? 1000, stall: options.stallMs ?? 300 })));

  async function round(service: string, entry: Watched): Promise<void> {
    const answered = new Set<string>();
    try {
      const answers = await (await serviceClient()).ping(service);
      for await (const answer of answers) {
        const grpc = answer.metadata?.grpc;
        if (answer.name === service && grpc) answered.add(grpc);
      }
    } catch (err) {
      // Nobody subscribed to the ping subject: no replica is registered, which is an answer, not an outage.
      if (!(err instanceof NoRespondersError || (err instanceof RequestError && err.isNoResponders()))) {
        options.logger.warn({ service, err: err instanceof Error ? err.message : String(err) }, "replica discovery round failed; keeping the last known replicas");
        return;
      }
    }
    if (closed || watched.get(service) !== entry) return;
    for (const address of entry.misses.keys()) if (!answered.has(address)) entry.misses.set(address, entry.misses.get(address)! + 1);
    for (const address of answered) entry.misses.set(address, 0);
    for (const [address, missed] of entry.misses) if (missed >= missesBeforeRemoval) entry.misses.delete(address);
    const found = [...entry.misses.keys()].sort();
    if (entry.addresses && sameList(entry.addresses, found)) return;
    entry.addresses = found;
    for (const listener of entry.listeners) listener(found);
  }

  function run(service: string, entry: Watched): void {
    if (entry.running || closed) return;
    clearTimeout(entry.timer);
    entry.running = round(service, entry).finally(() => {
      entry.running = undefined;
      if (!closed && watched.get(service) === entry) entry.timer = setTimeout(() => run(service, entry), intervalMs).unref();
    });
  }

  return {
    watch(service, onChange) {
      let entry = watched.get(service);
      if (!entry) {
        entry = { listeners: new Set(), addresses: undefined, misses: new Map(), timer: undefined, running: undefined };
        watched.set(service, entry);
        run(service, entry);
      } else if (entry.addresses) {
        const known = entry.addresses;
        queueMicrotask(() => onChange(known));
      }
      entry.listeners.add(onChange);
      const owner = entry;
      return () => {
        owner.listeners.delete(onChange);
        if (owner.listeners.size > 0) return;
        clearTimeout(owner.timer);
        watched.delete(service);
      };
    },
    refresh(service) {
      const entry = watched.get(service);
      if (entry) run(service, entry);
    },
    close() {
      closed = true;
      for (const entry of watched.values()) clearTimeout(entry.timer);
      watched.clear();
    },
  };
}

function sameList(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((value, i) => value === b[i]);
}
