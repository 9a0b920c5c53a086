import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Code } from "@connectrpc/connect";
import postgres from "postgres";
import { OrderService } from "../../gen/orders/v1/orders_pb.js";
import { createOrdersDatabase, startOrdersHost, type OrdersDatabase } from "../../tests/support/orders-fixture.js";
import { rpcPaths, type CallFailure, type RpcPath } from "../../tests/support/rpc-paths.js";
import { TEST_POSTGRES_URL } from "../../tests/support/test-database.js";
import { waitFor } from "../../tests/support/wait-for.js";
import type { ServiceHost } from "../platform/rpc/index.js";

// OrderService whose database work is stuck behind a lock: calls must end, not hang.
interface Served {
  db: OrdersDatabase;
  host: ServiceHost;
  paths: RpcPath[];
  grpc: RpcPath;
}

async function serve(statementTimeoutMs: number): Promise<Served> {
  const db = await createOrdersDatabase({ statementTimeoutMs });
  const host = await startOrdersHost(db.store);
  const paths = rpcPaths(host.grpcPort, host.webPort!);
  return { db, host, paths, grpc: paths.find((p) => p.name.startsWith("grpc-js"))! };
}

async function close(s: Served | undefined) {
  s?.paths.forEach((p) => p.close());
  await s?.host.stop();
  await s?.db.close();
}

/**
 * Holds an ACCESS EXCLUSIVE lock on the orders table from a connection of its own until released, so
 * every statement on it waits (as long as pg_sleep would, without a statement of ours to sleep in).
 */
async function lockOrders(databaseUrl: string) {
  const sql = postgres(databaseUrl, { max: 1, onnotice: () => {} });
  let release!: () => void;
  const released = new Promise<void>((r) => (release = r));
  let locked!: () => void;
  const holding = new Promise<void>((r) => (locked = r));
  const done = sql.begin(async (tx) => {
    await tx`lock table orders in access exclusive mode`;
    locked();
    await released;
  });
  await holding;
  return {
    async release() {
      release();
      await done;
      await sql.end();
    },
  };
}

/** Statements of the orders pool waiting for the lock right now. */
async function lockWaiters(databaseName: string): Promise<number> {
  const admin = postgres(TEST_POSTGRES_URL, { max: 1, onnotice: () => {} });
  try {
    const [row] = await admin`select count(*)::int as n from pg_stat_activity where datname = ${databaseName} and wait_event_type = 'Lock'`;
    return row!.n as number;
  } finally {
    await admin.end();
  }
}

async function callFailure(call: Promise<unknown>): Promise<{ failure: CallFailure; ms: number }> {
  const started = performance.now();
  const failure = await call.then(
    () => {
      throw new Error("expected the call to fail");
    },
    (f: CallFailure) => f,
  );
  return { failure, ms: performance.now() - started };
}

describe("database deadlines of RPCs", () => {
  let short: Served | undefined;
  let long: Served | undefined;
  beforeAll(async () => {
    [short, long] = await Promise.all([serve(300), serve(30_000)]);
  });
  afterAll(async () => {
    await Promise.all([close(short), close(long)]);
  });

  it("answers DEADLINE_EXCEEDED when a store statement outlives the statement timeout, however long the caller waits", async () => {
    const lock = await lockOrders(short!.db.testDb.url);
    try {
      const { failure, ms } = await callFailure(short!.grpc.call(OrderService.method.getOrder, { id: randomUUID() }, { timeoutMs: 20_000 }));
      expect(failure.code).toBe(Code.DeadlineExceeded);
      expect(failure.message).toBe("database statement timed out");
      expect(ms).toBeLessThan(5000);
    } finally {
      await lock.release();
    }
  });

  it("cancels the statement of a call whose deadline passed, instead of leaving it waiting for the lock", async () => {
    const lock = await lockOrders(long!.db.testDb.url);
    try {
      const { failure, ms } = await callFailure(long!.grpc.call(OrderService.method.getOrder, { id: randomUUID() }, { timeoutMs: 500 }));
      expect(failure.code).toBe(Code.DeadlineExceeded);
      expect(ms).toBeLessThan(5000);
      // The statement timeout is 30 s: only the call's cancellation can have ended the wait this soon.
      await waitFor(async () => (await lockWaiters(long!.db.testDb.name)) === 0, { what: "the waiting statement cancelled", timeoutMs: 5000 });
    } finally {
      await lock.release();
    }
    // The pool is fine afterwards: the next call is answered (NOT_FOUND for an unknown order).
    const next = await callFailure(long!.grpc.call(OrderService.method.getOrder, { id: randomUUID() }, { timeoutMs: 5000 }));
    expect(next.failure.code).toBe(Code.NotFound);
  });
});
