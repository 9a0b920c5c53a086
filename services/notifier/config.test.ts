import { describe, expect, it } from "vitest";
import { ConfigError } from "../platform/process/index.js";
import { loadNotifierConfig } from "./config.js";

describe("loadNotifierConfig", () => {
  it("defaults to the local mesh with .eml files and an AckWait above the send deadline", () => {
    const config = loadNotifierConfig({});
    expect(config).toMatchObject({
      grpcPort: 50053,
      natsUrl: "nats://127.0.0.1:4222",
      eventsStream: "ORDERS",
      eventsSubjectPrefix: "orders",
      smtpUrl: undefined,
      sendTimeoutMs: 10_000,
      ackWaitMs: 30_000,
      maxDeliver: 20,
      reflection: true,
    });
    expect(config.databaseUrl).toMatch(/\/notifier$/);
  });

  it("stops serving reflection with REFLECTION=off and names a bad value", () => {
    expect(loadNotifierConfig({ REFLECTION: "off" }).reflection).toBe(false);
    expect(() => loadNotifierConfig({ REFLECTION: "maybe" })).toThrow(/REFLECTION must be "on" or "off"/);
  });

  it("reads the batch size and stream limits, and needs a connection per batch in flight plus one", () => {
    expect(loadNotifierConfig({})).toMatchObject({ concurrency: 8, batchSize: 64, batchesInFlight: 2, streamLimits: { events: { maxBytes: 2 ** 30 } } });
    expect(loadNotifierConfig({ NOTIFIER_BATCH_SIZE: "1", EVENTS_MAX_BYTES: "8MiB", DEADLETTER_MAX_AGE: "off" })).toMatchObject({
      batchSize: 1,
      streamLimits: { events: { maxBytes: 8 * 2 ** 20 }, deadLetters: { maxAgeMs: undefined } },
    });
    // Sends no longer hold a connection each: 20 at once over a pool of 3 is fine.
    expect(loadNotifierConfig({ NOTIFIER_CONCURRENCY: "20", NOTIFIER_DATABASE_POOL: "3" }).concurrency).toBe(20);
    expect(() => loadNotifierConfig({ NOTIFIER_DATABASE_POOL: "2" })).toThrow(/NOTIFIER_DATABASE_POOL \(2\) must exceed NOTIFIER_BATCHES_IN_FLIGHT \(2\)/);
    expect(loadNotifierConfig({ NOTIFIER_DATABASE_POOL: "2", NOTIFIER_BATCHES_IN_FLIGHT: "1" }).batchesInFlight).toBe(1);
    expect(loadNotifierConfig({}).databaseStatementTimeoutMs).toBe(5000);
    expect(loadNotifierConfig({ DATABASE_STATEMENT_TIMEOUT_MS: "750" }).databaseStatementTimeoutMs).toBe(750);
  });

  it("refuses an AckWait that a send could outlast", () => {
    expect(() => loadNotifierConfig({ NOTIFIER_ACK_WAIT_MS: "5000", NOTIFIER_SEND_TIMEOUT_MS: "5000" })).toThrow(ConfigError);
    expect(() => loadNotifierConfig({ SMTP_URL: "http://mail" })).toThrow(/SMTP_URL/);
  });
});
