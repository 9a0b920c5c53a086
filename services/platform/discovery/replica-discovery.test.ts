import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Code, ConnectError, createClient, type Client } from "@connectrpc/connect";
import { ShippingService } from "../../../gen/shipping/v1/shipping_pb.js";
import { startScriptedShipping, type ScriptedShipping } from "../../../tests/support/scripted-shipping.js";
import { testLogger } from "../../../tests/support/shipping-harness.js";
import { TEST_NATS_URL } from "../../../tests/support/jetstream-fixture.js";
import { uniqueName } from "../../../tests/support/test-database.js";
import { waitFor } from "../../../tests/support/wait-for.js";
import { connectNats, type NatsConnection } from "../events/index.js";
import { createGrpcJsTransport, type ClosableTransport } from "../rpc/index.js";
import { Svcm } from "@nats-io/services";
import { createReplicaDiscovery, registerReplica, type ReplicaDiscovery, type ReplicaRegistration } from "./index.js";

// Real NATS (the shared server: the service API lives in subjects, each test uses its own service name)
// and real gRPC servers; the client is the mesh's own grpc-js transport with a nats-service:/// target.
describe("replicas registered with the NATS service API", () => {
  let nc: NatsConnection;
  const replicas: ScriptedShipping[] = [];
  const cleanups: Array<() => Promise<unknown> | unknown> = [];

  beforeAll(async () => {
    nc = await connectNats(TEST_NATS_URL, testLogger, "replica-discovery-test");
  });

  afterAll(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup();
    for (const replica of replicas) await replica.host.stop();
    await nc.drain();
  });

  async function replica(name: string): Promise<{ shipping: ScriptedShipping; registration: ReplicaRegistration }> {
    const shipping = await startScriptedShipping();
    replicas.push(shipping);
    const registration = await registerReplica(nc, name, { grpc: shipping.grpcAddress }, testLogger);
    cleanups.push(() => registration.stop());
    return { shipping, registration };
  }

  function clientOf(name: string): { client: Client<typeof ShippingService>; discovery: ReplicaDiscovery } {
    const discovery = createReplicaDiscovery(async () => nc, { logger: testLogger, intervalMs: 200 });
    const transport: ClosableTransport = createGrpcJsTransport({ address: `nats-service:///${name}`, discovery });
    cleanups.push(() => {
      transport.close();
      discovery.close();
    });
    return { client: createClient(ShippingService, transport), discovery };
  }

  /** Which replica answered each call: the one that counted its order. */
  const servedBy = (orderId: string, among: ScriptedShipping[]) => among.findIndex((r) => r.cancelCalls(orderId) > 0);
  let calls = 0;
  const call = (client: Client<typeof ShippingService>) => {
    const orderId = `order-${calls++}`;
    return client.cancelShipment({ orderId }, { timeoutMs: 5000 }).then(() => orderId);
  };

  /** What `nats micro ping <name>` would list; NATS answers "no responders" when nobody is registered. */
  async function pings(name: string): Promise<unknown[]> {
    const answers: unknown[] = [];
    try {
      for await (const answer of await new Svcm(nc as never).client().ping(name)) answers.push(answer);
    } catch (err) {
      if (!String(err).includes("no responders")) throw err;
    }
    return answers;
  }

  it("shows each replica to `nats micro`-style pings with its address as metadata", async () => {
    const name = uniqueName("svc");
    const { shipping, registration } = await replica(name);
    expect(await pings(name)).toEqual([expect.objectContaining({ name, id: registration.id, metadata: { grpc: shipping.grpcAddress } })]);
    await registration.stop();
    expect(await pings(name)).toEqual([]);
  });

  it("spreads calls round-robin over every registered replica and adds a new one within seconds", async () => {
    const name = uniqueName("svc");
    const a = await replica(name);
    const b = await replica(name);
    const { client } = clientOf(name);
    // round_robin sends everything to the first connection that is ready until the other one is too.
    const both = new Set<number>();
    await waitFor(async () => both.add(servedBy(await call(client), [a.shipping, b.shipping])).size === 2, { timeoutMs: 5000, what: "both replicas connected" });
    const served: number[] = [];
    for (let i = 0; i < 20; i++) served.push(servedBy(await call(client), [a.shipping, b.shipping]));
    expect(served.filter((i) => i === 0).length).toBeGreaterThanOrEqual(5);
    expect(served.filter((i) => i === 1).length).toBeGreaterThanOrEqual(5);

    const c = await replica(name);
    await waitFor(async () => servedBy(await call(client), [a.shipping, b.shipping, c.shipping]) === 2, { timeoutMs: 5000, what: "a call served by the new replica" });
  });

  it("loses no call while a replica leaves gracefully (deregister, then drain) under load", async () => {
    const name = uniqueName("svc");
    const a = await replica(name);
    const b = await replica(name);
    const { client } = clientOf(name);
    await Promise.all(Array.from({ length: 10 }, () => call(client)));
    let stop = false;
    const failures: unknown[] = [];
    const served: string[] = [];
    const load = Promise.all(
      Array.from({ length: 4 }, async () => {
        while (!stop) await call(client).then((id) => served.push(id), (err: unknown) => failures.push(err));
      }),
    );
    await waitFor(() => served.length >= 40, { timeoutMs: 10_000, what: "load running" });
    await a.registration.stop();
    await a.shipping.host.stop();
    const leftAt = served.length;
    await waitFor(() => served.length >= leftAt + 100, { timeoutMs: 15_000, what: "calls after the replica left" });
    stop = true;
    await load;
    expect(failures).toEqual([]);
    // Once it is gone, everything goes to the replica that stayed.
    expect(served.slice(leftAt + 20).every((id) => servedBy(id, [a.shipping, b.shipping]) === 1)).toBe(true);
  });

  it("keeps a replica that misses a round or two (busy for a moment) and drops it after the third", async () => {
    const name = uniqueName("svc");
    // A stand-in replica answering pings by hand, so the test decides which rounds it misses.
    let answering = true;
    let pinged = 0;
    const responder = nc.subscribe(`$SRV.PING.${name}`, {
      callback: (_err, msg) => {
        pinged++;
        if (answering) msg.respond(JSON.stringify({ type: "io.nats.micro.v1.ping_response", name, id: "busy-1", version: "0.1.0", metadata: { grpc: "127.0.0.1:1" } }));
      },
    });
    cleanups.push(() => responder.unsubscribe());
    const discovery = createReplicaDiscovery(async () => nc, { logger: testLogger, intervalMs: 100, maxWaitMs: 300, stallMs: 100 });
    cleanups.push(() => discovery.close());
    const seen: string[][] = [];
    discovery.watch(name, (addresses) => seen.push(addresses));
    await waitFor(() => seen.length === 1, { what: "the first answer" });
    answering = false;
    const missedFrom = pinged;
    await waitFor(() => pinged >= missedFrom + 2, { what: "two rounds missed" });
    answering = true;
    await waitFor(() => pinged >= missedFrom + 4, { what: "two rounds answered again" });
    expect(seen).toEqual([["127.0.0.1:1"]]);
    answering = false;
    await waitFor(() => seen.length === 2, { what: "the replica dropped" });
    expect(pinged).toBeGreaterThanOrEqual(missedFrom + 4 + 3);
    expect(seen[1]).toEqual([]);
  });

  it("answers UNAVAILABLE naming the service when no replica is registered", async () => {
    const name = uniqueName("svc");
    const { client } = clientOf(name);
    const err = await client.cancelShipment({ orderId: "o-1" }, { timeoutMs: 5000 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConnectError);
    expect(err).toMatchObject({ code: Code.Unavailable });
    expect((err as ConnectError).rawMessage).toContain(`no ${name} replica answers`);
  });
});
