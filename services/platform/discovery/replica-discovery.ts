import { NoRespondersError, RequestError, type NatsConnection } from "@nats-io/transport-node";
import { Svcm, type ServiceClient } from "@nats-io/services";
import type { Logger } from "../process/logger.js";

/** Tuning of discovery; the defaults put a new replica in use within about two seconds. */
export interface ReplicaDiscoveryOptions {
  /** Time between two rounds of $SRV.PING while someone watches a service. Default 2000 ms. */
  intervalMs?: number;
  /** How long one round waits for replicas' answers in all. Default 1000 ms. */
  maxWaitMs?: number;
  /** A round ends once no answer came for this long (answers arrive within a round trip). Default 200 ms. */
  stallMs?: number;
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
  timer: NodeJS.Timeout | undefined;
  running: Promise<void> | undefined;
}

/**
 * Discovers replicas registered with registerReplica by pinging `$SRV.PING.<service>` and collecting
 * the answers' `grpc` metadata. A round that fails (NATS away) keeps the last known set: the replicas
 * are likely still there, and grpc-js finds out per connection which are not. A round that gets no
 * answer at all reports an empty set, which the resolver turns into UNAVAILABLE. `connection` is
 * asked for the NATS connection at the first round (a process may connect after creating this).
 */
export function createReplicaDiscovery(connection: () => Promise<NatsConnection>, options: ReplicaDiscoveryOptions): ReplicaDiscovery {
  const intervalMs = options.intervalMs ?? 2000;
  const watched = new Map<string, Watched>();
  let closed = false;
  let client: Promise<ServiceClient> | undefined;
  const serviceClient = () =>
    (client ??= connection().then((nc) => new Svcm(nc as never).client({ strategy: "stall", maxWait: options.maxWaitMs ?? 1000, stall: options.stallMs ?? 200 })));

  async function round(service: string, entry: Watched): Promise<void> {
    let found: string[];
    try {
      const answers = await (await serviceClient()).ping(service);
      const addresses = new Set<string>();
      for await (const answer of answers) {
        const grpc = answer.metadata?.grpc;
        if (answer.name === service && grpc) addresses.add(grpc);
      }
      found = [...addresses].sort();
    } catch (err) {
      // Nobody subscribed to the ping subject: no replica is registered, which is an answer, not an outage.
      if (err instanceof NoRespondersError || (err instanceof RequestError && err.isNoResponders())) found = [];
      else {
        options.logger.warn({ service, err: err instanceof Error ? err.message : String(err) }, "replica discovery round failed; keeping the last known replicas");
        return;
      }
    }
    if (closed || watched.get(service) !== entry) return;
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
        entry = { listeners: new Set(), addresses: undefined, timer: undefined, running: undefined };
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
