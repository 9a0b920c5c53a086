import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Code, ConnectError } from "@connectrpc/connect";
import { jetstreamManager } from "@nats-io/jetstream";
import { startNatsCluster, type LocalNatsCluster } from "../services/mesh/nats-cluster.js";
import { connectNats, type NatsConnection } from "../services/platform/events/index.js";
import { createLogger } from "../services/platform/process/index.js";
import { startMesh, type MeshService, type MeshUnderTest } from "./support/mesh-processes.js";
import { startSmtpSink, type SmtpSink } from "./support/smtp-sink.js";
import { expectEachOrderShippedAndEmailedOnce } from "./support/event-flow-checks.js";
import { validCreateOrder } from "./support/orders-fixture.js";
import { waitFor } from "./support/wait-for.js";

// Faults of a replicated mesh on a clustered broker: a 3-node JetStream cluster of our own (streams at
// 3 replicas) and two replicas of every service. Under a bounded load, one NATS node and then one
// replica of each service are killed with -9 (and replaced): no order may be lost, shipped twice or
// emailed twice (by Message-ID: SMTP has no idempotency, so an email accepted by the server just before
// its notifier was killed goes out again, with the same Message-ID), and every one completes.
let dir: string;
let cluster: LocalNatsCluster;
let nc: NatsConnection;
let smtp: SmtpSink;
let mesh: MeshUnderTest;
const events = { stream: "ORDERS", subjectPrefix: "orders" };
// Crashed replicas leave messages unacknowledged; they come back after AckWait, short here.
const fastRedelivery = { STREAM_REPLICAS: "3", DISPATCH_ACK_WAIT_MS: "5000", NOTIFIER_ACK_WAIT_MS: "5000", NOTIFIER_SEND_TIMEOUT_MS: "3000" };

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "ordermesh-replica-faults-"));
  cluster = await startNatsCluster({ size: 3, storeDir: dir, print: () => {} });
  await cluster.ready;
  nc = await connectNats(cluster.url, createLogger("replica-faults-test", "warn"), "replica-faults-test");
  // The cluster elects its JetStream meta leader just after the nodes are up.
  await waitFor(() => jetstreamManager(nc, { timeout: 2000 }), { timeoutMs: 30_000, what: "JetStream answering" });
  smtp = await startSmtpSink();
  mesh = await startMesh({
    natsUrl: cluster.url,
    ...events,
    smtpUrl: smtp.url,
    replicas: { orders: 2, shipping: 2, notifier: 2 },
    env: { orders: fastRedelivery, shipping: fastRedelivery, notifier: fastRedelivery },
  });
}, 180_000);

afterAll(async () => {
  await mesh?.close();
  await smtp?.stop();
  await nc?.close();
  await cluster?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe("a replicated mesh on a 3-node NATS cluster", () => {
  it("loses, duplicates and strands no order when a NATS node and a replica of each service are killed -9", async () => {
    const jsm = await jetstreamManager(nc);
    expect((await jsm.streams.info(events.stream)).config.num_replicas).toBe(3);
    const placed: string[] = [];
    const failures: unknown[] = [];
    let retried = 0;
    let stop = false;
    let next = 0;
    /** A client's retry policy: the same request_id again on UNAVAILABLE (a replica died under the call). */
    const place = async (requestId: string) => {
      for (let attempt = 1; ; attempt++) {
        try {
          return (await mesh.orders.createOrder(validCreateOrder({ customerId: "faults", requestId }), { timeoutMs: 10_000 })).order!.id;
        } catch (err) {
          if (!(err instanceof ConnectError && err.code === Code.Unavailable) || attempt === 5) throw err;
          retried++;
        }
      }
    };
    const load = Promise.all(
      Array.from({ length: 4 }, async () => {
        while (!stop) await place(`faults-${next++}`).then((id) => placed.push(id), (err: unknown) => failures.push(err));
      }),
    );
    const progress = (calls: number) => waitFor(() => placed.length >= calls || failures.length > 0, { timeoutMs: 60_000, what: `${calls} orders placed` });
    await progress(20);

    // The node leading orders' stream: its loss forces an election while the relay publishes.
    const leader = (await jsm.streams.info(events.stream)).cluster!.leader!;
    const node = Number(/ordermesh-local-(\d)/.exec(leader)![1]);
    await cluster.kill(node);
    await progress(placed.length + 20);
    await cluster.restart(node);
    await progress(placed.length + 20);

    for (const service of ["shipping", "orders", "notifier"] as MeshService[]) {
      await mesh.stopReplica(service, mesh.replicas[service][0]!, "crash");
      await mesh.addReplica(service);
      await progress(placed.length + 10);
    }
    stop = true;
    await load;

    expect(failures).toEqual([]);
    // Only calls in flight on the killed orders replica were retried (four callers, one call each).
    expect(retried).toBeLessThanOrEqual(4);
    await expectEachOrderShippedAndEmailedOnce(mesh, smtp, placed, 120_000, { notifierCrashed: true });
    // Resent emails are the killed notifier's batches in flight at most (NOTIFIER_BATCH_SIZE 64, 2 in flight).
    const confirmations = smtp.emails.filter((e) => placed.some((id) => e.subject === `Order #${id} confirmed`)).length;
    expect(confirmations - placed.length).toBeLessThanOrEqual(128);
  }, 300_000);
});
