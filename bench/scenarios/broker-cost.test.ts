import { describe, expect, it } from "vitest";
import { brokerRows, formatBrokerSummary, supportsSyncInterval, syncIntervalNote, type BrokerResult } from "./broker-cost.js";

const latency = (p50Ms: number, p99Ms: number) => ({ count: 1000, p50Ms, p99Ms, p999Ms: p99Ms, maxMs: p99Ms, meanMs: p50Ms });
const results: BrokerResult[] = [
  {
    label: "1 node, R1",
    nodes: 1,
    publish: { published: 60_000, failed: {}, elapsedMs: 3000, latency: latency(1.4, 4), cpu: { servers: 20, client: 45, machine: 63 } },
    drain: { rows: 5000, ms: 500, rowsPerSec: 10_000, cpuPerRow: { self: 80, postgres: 60 } },
    drainServersUsPerRow: 18,
  },
  {
    label: "3-node cluster, R3",
    nodes: 3,
    publish: { published: 30_000, failed: { TimeoutError: 2 }, elapsedMs: 3000, latency: latency(2.75, 9.7), cpu: { servers: 100, client: 56, machine: 154 } },
    drain: { rows: 5000, ms: 640, rowsPerSec: 7800, cpuPerRow: { self: 56, postgres: 61 } },
    drainServersUsPerRow: 82,
  },
];

describe("broker cost", () => {
  it("knows which nats-server releases have sync_interval", () => {
    expect(supportsSyncInterval("nats-server: v2.9.10")).toBe(false);
    expect(supportsSyncInterval("nats-server: v2.10.0")).toBe(true);
    expect(supportsSyncInterval("nats-server: v2.11.4")).toBe(true);
    expect(supportsSyncInterval("nats-server: v3.0.1")).toBe(true);
    expect(supportsSyncInterval("nats-server: v1.4.1")).toBe(false);
    expect(supportsSyncInterval("no version here")).toBe(false);
  });

  it("says plainly that sync_interval: always was not measured", () => {
    expect(syncIntervalNote("nats-server: v2.9.10")).toMatch(/^sync_interval: always is not measured: nats-server: v2\.9\.10 predates it \(it needs >= 2\.10\)/);
    expect(syncIntervalNote("nats-server: v2.10.3")).toMatch(/sync_interval: always is not measured$/);
  });

  it("reports publishes and the relay's drain per setup, R3's servers' CPU against R1's", () => {
    const rows = brokerRows(results, 32);
    expect(rows.map((r) => [r.scenario, r.load, r.throughput, r.cpuUsPerOp])).toEqual([
      ["Broker publish, 1 node, R1", "c=32", 20_000, 20],
      ["Broker relay drain, 1 node, R1", "5000 rows", 10_000, 98],
      ["Broker publish, 3-node cluster, R3", "c=32", 10_000, 100],
      ["Broker relay drain, 3-node cluster, R3", "5000 rows", 7800, 138],
    ]);
    expect(rows[2]!.errors).toEqual({ TimeoutError: 2 });
    expect(rows[2]!.note).toMatch(/nats-servers \(all nodes\) per publish, client 56; 5\.0x the servers' CPU of 1 node, R1$/);

    const table = formatBrokerSummary(results, 32, "a note").split("\n");
    expect(table[0]).toBe("| setup | publishes/s (c=32) | PubAck p50 ms | PubAck p99 ms | nats-server µs/publish | client µs/publish | failed | relay drain rows/s | relay µs/row | nats-server µs/row (relay) |");
    expect(table[3]).toBe("| 3-node cluster, R3 | 10,000 | 2.75 | 9.70 | 100 | 56 | TimeoutError:2 | 7,800 | 56 | 82 |");
    expect(table.at(-1)).toBe("a note.");
  });
});
