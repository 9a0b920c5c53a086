import { randomUUID } from "node:crypto";
import { Code } from "@connectrpc/connect";
import type * as grpc from "@grpc/grpc-js";
import postgres from "postgres";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ShippingService } from "../../../gen/shipping/v1/shipping_pb.js";
import { checkHealth, newGrpcJsClient, newHealthClient, unaryCall, watchHealth, type HealthClient, type HealthWatch } from "../../../tests/support/grpc-js-clients.js";
import { startShippingServers, testLogger, type ShippingServers } from "../../../tests/support/shipping-harness.js";
import { openShippingDatabase } from "../../shipping/db/open-database.js";
import { startTcpProxy, type TcpProxy } from "../../../tests/support/tcp-proxy.js";
import { createTestDatabase, type TestDatabase } from "../../../tests/support/test-database.js";
import { waitFor } from "../../../tests/support/wait-for.js";
import type { Database } from "../db/database.js";
import { HealthReporter } from "./health.js";
import type * as schema from "../../shipping/db/schema.js";

// The shipping database is reached through a TCP proxy that the test cuts to make PostgreSQL
// unreachable, so the shared server itself is never stopped.
const names = ["", "shipping.v1.ShippingService"] as const;
let testDb: TestDatabase;
let proxy: TcpProxy;
let database: Database<typeof schema>;
let servers: ShippingServers;
let health: HealthClient;
let watches: HealthWatch[];

beforeAll(async () => {
  testDb = await createTestDatabase("health");
  const shared = new URL(testDb.url);
  proxy = await startTcpProxy(shared.hostname, Number(shared.port || 5432));
  const viaProxy = new URL(testDb.url);
  viaProxy.port = String(proxy.port);
  database = await openShippingDatabase(viaProxy.toString(), 2);
  servers = await startShippingServers(database, { healthIntervalMs: 100 });
  health = newHealthClient(servers.grpcAddress);
  watches = names.map((name) => watchHealth(health, name));
});

afterAll(async () => {
  health?.close();
  await servers?.host.stop();
  await database?.close();
  await proxy?.close();
  await testDb?.drop();
});

const statusesOf = () => Promise.all(names.map((name) => checkHealth(health, name)));

describe("grpc.health.v1 follows the database", () => {
  it("is SERVING for the process and the service while the database answers", async () => {
    expect(await statusesOf()).toEqual(["SERVING", "SERVING"]);
    await waitFor(() => watches.every((w) => w.statuses.includes("SERVING")), { what: "Watch to deliver SERVING" });
  });

  it("pings the database on a connection of its own, so a saturated pool does not read as an outage", async () => {
    const locker = postgres(testDb.url, { max: 1, onnotice: () => {} });
    try {
      await locker`select pg_advisory_lock(4242)`;
      // Both pooled connections (pool size 2) block on the lock...
      const blocked = [1, 2].map(() => database.sql`select pg_advisory_lock_shared(4242)`.then(() => database.sql`select pg_advisory_unlock_shared(4242)`));
      await waitFor(async () => (await locker`select count(*)::int as n from pg_locks where locktype = 'advisory' and not granted`)[0]!.n === 2, { what: "pool saturated" });
      let pooledAnswered = false;
      const pooled = database.sql`select 1`.then(() => (pooledAnswered = true));
      // ...yet the health ping answers, while a query through the pool still waits.
      await database.ping();
      expect(pooledAnswered).toBe(false);
      expect(await statusesOf()).toEqual(["SERVING", "SERVING"]);
      await locker`select pg_advisory_unlock(4242)`;
      await Promise.all([...blocked, pooled]);
      expect(pooledAnswered).toBe(true);
    } finally {
      await locker.end({ timeout: 5 });
    }
  });

  it("turns NOT_SERVING on Check and Watch when the database becomes unreachable, and calls fail as UNAVAILABLE", async () => {
    proxy.cut();
    await waitFor(async () => (await statusesOf()).every((s) => s === "NOT_SERVING"), { what: "NOT_SERVING", timeoutMs: 5000 });
    await waitFor(() => watches.every((w) => w.statuses.at(-1) === "NOT_SERVING"), { what: "Watch to deliver NOT_SERVING" });
    // Without its database the service is unavailable (retryable), not broken (INTERNAL).
    const client = newGrpcJsClient(servers.grpcAddress);
    try {
      const err = await unaryCall(client, ShippingService.method.getShipment, { id: randomUUID() }, { timeoutMs: 8000 }).then(
        () => undefined,
        (e: grpc.ServiceError) => e,
      );
      expect(err?.code).toBe(Code.Unavailable);
    } finally {
      client.close();
    }
  });

  it("returns to SERVING when the database is reachable again, and calls work", async () => {
    proxy.restore();
    await waitFor(async () => (await statusesOf()).every((s) => s === "SERVING"), { what: "SERVING again", timeoutMs: 10_000 });
    await waitFor(() => watches.every((w) => w.statuses.at(-1) === "SERVING"), { what: "Watch to deliver SERVING again" });
    for (const w of watches) expect(w.statuses).toEqual(["SERVING", "NOT_SERVING", "SERVING"]);
    const client = newGrpcJsClient(servers.grpcAddress);
    try {
      const err = await unaryCall(client, ShippingService.method.getShipment, { id: randomUUID() }).catch((e: grpc.ServiceError) => e);
      expect((err as grpc.ServiceError).code).toBe(Code.NotFound);
    } finally {
      client.close();
    }
  });

  it("is NOT_SERVING during shutdown, even with the database up, and ends Watch streams cleanly", async () => {
    const ended = watches.map((w) => new Promise<number>((resolve) => w.stream.once("status", (s: grpc.StatusObject) => resolve(s.code))));
    await servers.host.stop();
    for (const w of watches) expect(w.statuses.at(-1)).toBe("NOT_SERVING");
    // Status 0 is OK: the server ended the streams rather than the connection dying under them.
    expect(await Promise.all(ended)).toEqual([0, 0]);
    // Health stays down after shutdown: a late probe result must not flip it back.
    servers.host.health.setServing(true);
    expect(servers.host.health.isServing).toBe(false);
  });
});

describe("HealthReporter's threshold", () => {
  it("goes NOT_SERVING only after two failed probes in a row, and back at the first success", async () => {
    const transitions: boolean[] = [];
    class Recording extends HealthReporter {
      override setServing(serving: boolean): void {
        if (serving !== this.isServing) transitions.push(serving);
        super.setServing(serving);
      }
    }
    const reporter = new Recording(["shipping.v1.ShippingService"], testLogger);
    const script = [true, false, true, false, false, false, true];
    let probes = 0;
    // After the script every probe passes, so no transition follows the last one.
    const check = async () => {
      if (!(script[probes++] ?? true)) throw new Error("down");
    };
    await reporter.watch([check], 5);
    await waitFor(() => probes > script.length, { what: "every scripted probe" });
    const seen = [...transitions];
    reporter.shutdown();
    expect(seen).toEqual([true, false, true]);
  });
});
