import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { jetstreamManager } from "@nats-io/jetstream";
import { startPrivateNatsServer, type PrivateNatsServer } from "../../../tests/support/nats-server.js";
import { testLogger } from "../../../tests/support/shipping-harness.js";
import { connectNats, type NatsConnection } from "./nats-connection.js";
import { untilJetStreamAnswers } from "./jetstream-retry.js";

// A private nats-server this test stops (never the shared one).
describe("untilJetStreamAnswers", () => {
  let nats: PrivateNatsServer;
  let nc: NatsConnection;

  beforeAll(async () => {
    nats = await startPrivateNatsServer();
    nc = await connectNats(nats.url, testLogger, "jetstream-retry-test", { reconnectTimeWaitMs: 100 });
  });

  afterAll(async () => {
    await nc?.close();
    await nats?.stop();
  });

  it("waits while NATS is away and returns once JetStream answers", async () => {
    await nats.kill({ crash: true });
    let attempts = 0;
    const manager = untilJetStreamAnswers("test", () => (attempts++, jetstreamManager(nc, { timeout: 300 })), testLogger);
    // Tried and refused at least twice while the server is down; then it comes back.
    await expect.poll(() => attempts, { timeout: 10_000 }).toBeGreaterThanOrEqual(2);
    await nats.start();
    const jsm = await manager;
    expect((await jsm.getAccountInfo()).streams).toBeGreaterThanOrEqual(0);
  });

  it("throws an answer (not an outage) at once", async () => {
    let attempts = 0;
    const refused = untilJetStreamAnswers("test", async () => {
      attempts++;
      throw new Error("stream name already in use with a different configuration");
    }, testLogger);
    await expect(refused).rejects.toThrow("already in use");
    expect(attempts).toBe(1);
  });
});
