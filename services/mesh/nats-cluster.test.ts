import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { jetstreamManager, type JetStreamManager } from "@nats-io/jetstream";
import { headers } from "@nats-io/transport-node";
import { connectNats, ensureEventStreams, type NatsConnection } from "../platform/events/index.js";
import { createLogger } from "../platform/process/index.js";
import { testStreamLimits } from "../../tests/support/jetstream-fixture.js";
import { waitFor } from "../../tests/support/wait-for.js";
import { startNatsCluster, type LocalNatsCluster } from "./nats-cluster.js";

// A real 3-node JetStream cluster on loopback (this test's own servers, never the shared :4222).
describe("a local 3-node NATS cluster with streams at 3 replicas", () => {
  const logger = createLogger("nats-cluster-test", "warn");
  let dir: string;
  let cluster: LocalNatsCluster;
  let nc: NatsConnection;
  let jsm: JetStreamManager;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "ordermesh-nats-cluster-"));
    cluster = await startNatsCluster({ size: 3, storeDir: dir });
    await cluster.ready;
    nc = await connectNats(cluster.url, logger, "nats-cluster-test");
    // The cluster elects its JetStream meta leader just after the nodes are up; until then JetStream does not answer.
    jsm = await waitFor(() => jetstreamManager(nc, { timeout: 2000 }), { timeoutMs: 30_000, what: "JetStream answering" });
    await waitFor(() => ensureEventStreams(jsm, { stream: "CLUSTER_TEST", subjectPrefix: "cluster_test", limits: { ...testStreamLimits, replicas: 3 } }), {
      timeoutMs: 30_000,
      what: "the replicated streams declared",
    });
  }, 60_000);

  afterAll(async () => {
    await nc?.close();
    await cluster?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  /** Publishes event n until JetStream acknowledges it (a leader election refuses or times out for a moment); the msg id dedupes retries. */
  async function publish(n: number): Promise<void> {
    const h = headers();
    h.set("Nats-Msg-Id", `event-${n}`);
    await waitFor(() => jsm.jetstream().publish("cluster_test.created", new TextEncoder().encode(String(n)), { headers: h, timeout: 2000 }), {
      timeoutMs: 30_000,
      intervalMs: 100,
      what: `event ${n} acknowledged`,
    });
  }

  it("keeps every acknowledged event and takes new ones when the stream's leader is killed -9, and the node catches up on restart", async () => {
    const info = await jsm.streams.info("CLUSTER_TEST");
    expect(info.config.num_replicas).toBe(3);
    expect(info.cluster?.replicas).toHaveLength(2);
    for (let n = 0; n < 50; n++) await publish(n);

    const leader = info.cluster!.leader!;
    const leaderIndex = Number(/ordermesh-local-(\d)/.exec(leader)![1]);
    await cluster.kill(leaderIndex);
    for (let n = 50; n < 100; n++) await publish(n);
    const during = await waitFor(async () => {
      const now = await jsm.streams.info("CLUSTER_TEST");
      return now.cluster?.leader && now.cluster.leader !== leader ? now : undefined;
    }, { what: "a new stream leader" });
    expect(during.state.messages).toBe(100);

    await cluster.restart(leaderIndex);
    // The restarted node is a follower again and current: all three copies hold the 100 events.
    await waitFor(async () => {
      const now = await jsm.streams.info("CLUSTER_TEST");
      const peers = now.cluster?.replicas ?? [];
      return peers.length === 2 && peers.every((peer) => peer.current && !peer.offline) && now.state.messages === 100 ? now : undefined;
    }, { timeoutMs: 30_000, what: "every replica current again" });
    const stored = new Set<string>();
    for (let seq = 1; seq <= 100; seq++) stored.add(new TextDecoder().decode((await jsm.streams.getMessage("CLUSTER_TEST", { seq }))!.data));
    expect(stored.size).toBe(100);
  }, 120_000);
});
