import { join } from "node:path";
import { startNatsServer, type LocalNatsServer, type NatsServerOptions } from "./nats-server.js";
import { freePort } from "./ports.js";

/** A local JetStream cluster of nats-servers on loopback. */
export interface LocalNatsCluster {
  /** Every node's client URL, comma-separated: what NATS_URL takes. */
  url: string;
  nodes: LocalNatsServer[];
  /** Resolves once every node takes clients (JetStream elects its meta leader right after). */
  ready: Promise<void>;
  /** Kills node i with SIGKILL (a crash: no shutdown, no flush) and waits until it is gone. */
  kill(i: number): Promise<void>;
  /** Starts node i again on its ports and store (after kill); resolves once it takes clients. */
  restart(i: number): Promise<void>;
  stop(): Promise<void>;
}

/** Where the cluster's nodes listen and store. */
export interface NatsClusterOptions {
  /** How many nodes; 3 tolerates one node down (a majority of 2 still stores and acknowledges). */
  size: number;
  /** Folder holding one JetStream store per node (node-0, node-1, ...). */
  storeDir: string;
  /** Client ports, one per node; default free ones. */
  ports?: readonly number[];
}

/**
 * Starts `size` nats-servers with JetStream, each routed to all the others (cluster "ordermesh").
 * Streams declared with STREAM_REPLICAS=size keep a copy on every node.
 */
export async function startNatsCluster(options: NatsClusterOptions): Promise<LocalNatsCluster> {
  const ports = options.ports ?? (await Promise.all(Array.from({ length: options.size }, () => freePort())));
  const routePorts = await Promise.all(ports.map(() => freePort()));
  const routes = routePorts.map((port) => `nats://127.0.0.1:${port}`);
  const nodeOptions = (i: number): NatsServerOptions => ({
    port: ports[i]!,
    storeDir: join(options.storeDir, `node-${i}`),
    serverName: `ordermesh-local-${i}`,
    label: `nats-${i}`,
    cluster: { name: "ordermesh", port: routePorts[i]!, routes },
  });
  // Side by side: each node keeps dialling the routes of the others until they are up.
  const started = await Promise.allSettled(ports.map((_, i) => startNatsServer(nodeOptions(i))));
  const nodes = started.flatMap((result) => (result.status === "fulfilled" ? [result.value] : []));
  const failed = started.find((result) => result.status === "rejected");
  if (failed) {
    await Promise.all(nodes.map((node) => node.stop()));
    throw failed.reason;
  }
  return {
    url: nodes.map((node) => node.url).join(","),
    nodes,
    ready: Promise.all(nodes.map((node) => node.ready)).then(() => undefined),
    async kill(i) {
      const node = nodes[i]!.process;
      node.signalGroup("SIGKILL");
      await node.exited;
    },
    async restart(i) {
      if (nodes[i]!.process.running) throw new Error(`nats-${i} is still running`);
      nodes[i] = await startNatsServer(nodeOptions(i));
      await nodes[i]!.ready;
    },
    async stop() {
      await Promise.all(nodes.map((node) => node.stop()));
    },
  };
}
