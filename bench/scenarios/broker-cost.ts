import { execFileSync } from "node:child_process";
import { randomBytes, randomUUID } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import { startNatsCluster } from "../../services/mesh/nats-cluster.js";
import { findNatsServer, startNatsServer } from "../../services/mesh/nats-server.js";
import { catalogue, cloudEventHeaders, ensureEventStreams, eventFamilies, subjectOf, typeOf, untilJetStreamAnswers } from "../../services/platform/events/index.js";
import { createLogger } from "../../services/platform/process/index.js";
import { cpuMicros, machineBusyMicros } from "../cpu.js";
import { newHistogram, recordMs, summarize, type LatencySummary } from "../histogram.js";
import type { StandaloneContext } from "../measure.js";
import { freePort } from "../../services/mesh/ports.js";
import { deleteStreams } from "../mesh.js";
import { openRelayBench, type RelayDrain } from "../relay-bench.js";
import { fmt, formatErrors, markdownTable, type ReportSection, type ResultRow } from "../report.js";

/** The first nats-server release with `sync_interval` (JetStream's fsync policy, "always" included). */
export const syncIntervalSince = [2, 10] as const;

/** Whether a `nats-server --version` line ("nats-server: v2.9.10") names a server that has `sync_interval`. */
export function supportsSyncInterval(versionLine: string): boolean {
  const m = /v?(\d+)\.(\d+)\.\d+/.exec(versionLine);
  if (!m) return false;
  const [major, minor] = [Number(m[1]), Number(m[2])];
  return major > syncIntervalSince[0] || (major === syncIntervalSince[0] && minor >= syncIntervalSince[1]);
}

/** What one broker setup is: its nodes' URLs and process ids, and the replicas of its streams. */
interface Broker {
  label: string;
  url: string;
  pids: number[];
  replicas: number;
}

/** Acknowledged publishes at a fixed concurrency: rate, ack latency and CPU per publish. */
export interface PublishRun {
  published: number;
  failed: Record<string, number>;
  elapsedMs: number;
  latency: LatencySummary;
  /** µs per publish of the broker's nats-server processes, of this process (the client) and of the machine. */
  cpu: { servers: number; client: number; machine: number };
}

/** What one broker setup measured. */
export interface BrokerResult {
  /** e.g. "1 node, R1". */
  label: string;
  nodes: number;
  publish: PublishRun;
  /** The outbox relay draining a backlog to this broker. */
  drain: RelayDrain;
  /** nats-server µs per row during the drain, all nodes. */
  drainServersUsPerRow: number;
}

// The stream stays small: JetStream reserves max_bytes per stream on each replica's node.
const limits = (replicas: number) => ({ events: { maxAgeMs: 3_600_000, maxBytes: 256 * 2 ** 20 }, deadLetters: { maxAgeMs: 3_600_000, maxBytes: 8 * 2 ** 20 }, replicas });

/** The sentence the report carries about sync_interval, for this machine's nats-server version line. */
export function syncIntervalNote(versionLine: string): string {
  return supportsSyncInterval(versionLine)
    ? `${versionLine} has sync_interval, but these rows run with JetStream's default (fsync about every 2 minutes); sync_interval: always is not measured`
    : `sync_interval: always is not measured: ${versionLine} predates it (it needs >= ${syncIntervalSince.join(".")}). These rows use JetStream's default fsync (about every 2 minutes): an R1 PubAck survives a nats-server crash but not an OS crash or power loss; an R3 PubAck means 2 of 3 nodes hold the message, so it survives losing one node, but not all three losing power at once`;
}

/** The report's rows: per broker, its publishes and its relay drain. */
export function brokerRows(results: readonly BrokerResult[], concurrency: number): ResultRow[] {
  const r1 = results[0];
  return results.flatMap((b, i): ResultRow[] => [
    {
      scenario: `Broker publish, ${b.label}`,
      load: `c=${concurrency}`,
      throughput: b.publish.elapsedMs > 0 ? (b.publish.published * 1000) / b.publish.elapsedMs : 0,
      latency: b.publish.latency,
      errors: b.publish.failed,
      cpuUsPerOp: b.publish.cpu.servers,
      cpuByProcess: { "nats-server": b.publish.cpu.servers, client: b.publish.cpu.client },
      machineCpuUsPerOp: b.publish.cpu.machine,
      note:
        `latency = publish to PubAck; CPU µs/op = nats-server${b.nodes > 1 ? "s (all nodes)" : ""} per publish, client ${b.publish.cpu.client}` +
        (i > 0 && r1 && r1.publish.cpu.servers > 0 ? `; ${(b.publish.cpu.servers / r1.publish.cpu.servers).toFixed(1)}x the servers' CPU of ${r1.label}` : ""),
    },
    {
      scenario: `Broker relay drain, ${b.label}`,
      load: `${b.drain.rows} rows`,
      throughput: b.drain.rowsPerSec,
      latency: undefined,
      errors: {},
      cpuUsPerOp: b.drain.cpuPerRow.self + b.drainServersUsPerRow,
      cpuByProcess: { relay: b.drain.cpuPerRow.self, "nats-server": b.drainServersUsPerRow, postgres: b.drain.cpuPerRow.postgres },
      note: `the orders outbox relay alone; CPU µs/op = relay process + nats-server per row (PostgreSQL ${b.drain.cpuPerRow.postgres} more)`,
    },
  ]);
}

/** The setups side by side, and what the figures do not cover. */
export function formatBrokerSummary(results: readonly BrokerResult[], concurrency: number, syncNote: string): string {
  const header = ["setup", `publishes/s (c=${concurrency})`, "PubAck p50 ms", "PubAck p99 ms", "nats-server µs/publish", "client µs/publish", "failed", "relay drain rows/s", "relay µs/row", "nats-server µs/row (relay)"];
  const lines = results.map((b) => [
    b.label,
    fmt(b.publish.elapsedMs > 0 ? (b.publish.published * 1000) / b.publish.elapsedMs : 0),
    fmt(b.publish.latency.p50Ms, 2),
    fmt(b.publish.latency.p99Ms, 2),
    fmt(b.publish.cpu.servers),
    fmt(b.publish.cpu.client),
    formatErrors(b.publish.failed),
    fmt(b.drain.rowsPerSec),
    fmt(b.drain.cpuPerRow.self),
    fmt(b.drainServersUsPerRow),
  ]);
  return [markdownTable(header, lines), "", syncNote + "."].join("\n");
}

/**
 * What replication costs on this machine's nats-server (issue #13): JetStream publishes with the
 * relay's headers, payload and Nats-Msg-Id, `brokerConcurrency` awaiting their PubAck at once, on
 * one node with R1 streams and on a local 3-node cluster with R3 streams (a PubAck then means a
 * majority stored the message); then the outbox relay draining a backlog to each. Both brokers are
 * private to the run, so the shared server of the tests adds nothing to their CPU.
 */
export async function runBrokerCost(ctx: StandaloneContext, postgresUrl: string): Promise<{ rows: ResultRow[]; section: ReportSection }> {
  const command = findNatsServer();
  if (!command) throw new Error("broker rows: nats-server not found (Debian: apt-get install nats-server)");
  const syncNote = syncIntervalNote(execFileSync(command, ["--version"], { encoding: "utf8" }).trim());
  const dir = await mkdtemp(join(tmpdir(), "ordermesh-bench-broker-"));
  // Nodes dial each other's routes before all listen: those first refusals are expected, not news.
  const print = (label: string) => (line: string) => {
    if (!line.includes("[INF]") && !/connect to route|Waiting for routing/.test(line)) process.stderr.write(`[${label}] ${line}\n`);
  };
  const results: BrokerResult[] = [];
  try {
    const single = await startNatsServer({ port: await freePort(), storeDir: join(dir, "single"), serverName: "bench-single", label: "nats-single", print: print("nats-single") });
    try {
      await single.ready;
      results.push(await measureBroker(ctx, postgresUrl, { label: "1 node, R1", url: single.url, pids: [single.process.pid!], replicas: 1 }));
    } finally {
      await single.stop();
    }
    const cluster = await startNatsCluster({ size: 3, storeDir: join(dir, "cluster"), print: (i, line) => print(`nats-${i}`)(line) });
    try {
      await cluster.ready;
      results.push(await measureBroker(ctx, postgresUrl, { label: "3-node cluster, R3", url: cluster.url, pids: cluster.nodes.map((n) => n.process.pid!), replicas: 3 }));
    } finally {
      await cluster.stop();
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
  return {
    rows: brokerRows(results, ctx.plan.brokerConcurrency),
    section: { title: "Broker: one node vs a 3-node cluster (issue 13)", markdown: formatBrokerSummary(results, ctx.plan.brokerConcurrency, syncNote) },
  };
}

async function measureBroker(ctx: StandaloneContext, postgresUrl: string, broker: Broker): Promise<BrokerResult> {
  ctx.log(`broker ${broker.label}: publishes, ${ctx.plan.brokerConcurrency} in flight for ${ctx.plan.brokerMs / 1000} s`);
  const publish = await publishRun(ctx, broker);
  ctx.log(`broker ${broker.label}: relay drains ${ctx.plan.brokerRelayRows} outbox rows`);
  const relay = await openRelayBench({ postgresUrl, natsUrl: broker.url, replicas: broker.replicas });
  try {
    const serversBefore = broker.pids.map(cpuMicros);
    const drain = await relay.drain(ctx.plan.brokerRelayRows);
    const servers = broker.pids.reduce((sum, pid, i) => sum + cpuMicros(pid) - serversBefore[i]!, 0);
    return { label: broker.label, nodes: broker.pids.length, publish, drain, drainServersUsPerRow: Math.round(servers / drain.rows) };
  } finally {
    await relay.close();
  }
}

async function publishRun(ctx: StandaloneContext, broker: Broker): Promise<PublishRun> {
  const run = `${Date.now().toString(36)}${randomBytes(3).toString("hex")}`;
  const stream = `BENCHBROKER_${run.toUpperCase()}`;
  const prefix = `benchbroker_${run}`;
  const nc = await connect({ servers: broker.url.split(",") });
  const logger = createLogger("bench-broker", "warn");
  try {
    // A fresh cluster elects its JetStream leaders for a few seconds after its nodes take clients.
    const jsm = await untilJetStreamAnswers("bench broker stream", () => jetstreamManager(nc), logger);
    await untilJetStreamAnswers("bench broker stream", () => ensureEventStreams(jsm, { stream, subjectPrefix: prefix, limits: limits(broker.replicas) }), logger);
    const js = jetstream(nc);
    const payload = randomBytes(330);
    const subject = subjectOf(catalogue.orderCreated, prefix);
    const publishOne = () => {
      const eventId = randomUUID();
      return js.publish(subject, payload, {
        msgID: eventId,
        headers: cloudEventHeaders({ eventId, type: typeOf(catalogue.orderCreated), source: eventFamilies.orders.source, time: new Date() }),
      });
    };
    const latency = newHistogram();
    const failed: Record<string, number> = {};
    let published = 0;
    let measuring = false;
    let stopAt = 0;
    // Closed loop: each worker publishes its next message once the last one is acknowledged.
    const worker = async () => {
      while (performance.now() < stopAt) {
        const t0 = performance.now();
        try {
          await publishOne();
          if (measuring) {
            recordMs(latency, performance.now() - t0);
            published++;
          }
        } catch (err) {
          const code = err instanceof Error ? err.name : "Error";
          if (measuring) failed[code] = (failed[code] ?? 0) + 1;
        }
      }
    };
    const workers = (ms: number) => {
      stopAt = performance.now() + ms;
      return Promise.all(Array.from({ length: ctx.plan.brokerConcurrency }, worker));
    };
    // Warm the connection, the stream's first block and (on a cluster) its leader's followers, unmeasured.
    await workers(Math.min(1000, ctx.plan.brokerMs));
    const serversBefore = broker.pids.map(cpuMicros);
    const clientBefore = cpuMicros(process.pid);
    const machineBefore = machineBusyMicros();
    measuring = true;
    const started = performance.now();
    await workers(ctx.plan.brokerMs);
    const elapsedMs = performance.now() - started;
    const per = (us: number) => (published > 0 ? Math.round(us / published) : 0);
    return {
      published,
      failed,
      elapsedMs,
      latency: summarize(latency),
      cpu: {
        servers: per(broker.pids.reduce((sum, pid, i) => sum + cpuMicros(pid) - serversBefore[i]!, 0)),
        client: per(cpuMicros(process.pid) - clientBefore),
        machine: per(machineBusyMicros() - machineBefore),
      },
    };
  } finally {
    await nc.close();
    await deleteStreams(broker.url, [stream, `${stream}_DEADLETTER`]);
  }
}
